/**
 * Agent identity: enrollment with a single-use join token, and proof of key
 * possession on every later connection (Ed25519 signature over a nonce the
 * server chose for that connection). Only public keys and token hashes are
 * stored; nothing here can be replayed from a database dump.
 */
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { publicKeyFingerprint } from "../crypto/server-key.ts";
import { authChallengeMessage } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";

export const JOIN_TOKEN_PREFIX = "bjt_";

export function newJoinToken(): string {
  return JOIN_TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashJoinToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function newNonce(): string {
  return randomBytes(32).toString("base64url");
}

/** sha256 of the key's DER encoding, hex, as `SHA256:ab12…` for display. */
export function keyFingerprint(publicKeyPem: string): string {
  return publicKeyFingerprint(publicKeyPem);
}

function verifySignature(publicKeyPem: string, message: string, signatureB64: string): boolean {
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== "ed25519") return false;
    return verify(null, Buffer.from(message), key, Buffer.from(signatureB64, "base64"));
  } catch {
    return false;
  }
}

export type AgentIdentity = { agentId: string; hostId: string; hostName: string };

/**
 * Join: the token must exist, be unused and unexpired; it is consumed in the
 * same statement that checks it, so a token can never enroll two agents.
 * The signature proves the caller holds the private half of `publicKey`.
 */
export async function enrollAgent(opts: {
  db: Db;
  token: string;
  publicKey: string;
  signature: string;
  nonce: string;
}): Promise<AgentIdentity> {
  const { db } = opts;
  if (!verifySignature(opts.publicKey, authChallengeMessage(opts.nonce, "join"), opts.signature)) {
    throw new AppError("UNAUTHORIZED", "Join refused: the signature does not match the public key (must be Ed25519).");
  }
  const tokenHash = hashJoinToken(opts.token);
  const fingerprint = keyFingerprint(opts.publicKey);

  return db.$transaction(async (tx) => {
    const now = new Date();
    const claimed = await tx.joinToken.updateMany({
      where: { tokenHash, usedAt: null, expiresAt: { gt: now } },
      data: { usedAt: now },
    });
    if (claimed.count !== 1) {
      const token = await tx.joinToken.findUnique({ where: { tokenHash }, select: { usedAt: true, expiresAt: true } });
      if (!token) throw new AppError("UNAUTHORIZED", "Join refused: unknown join token.");
      if (token.usedAt) throw new AppError("UNAUTHORIZED", "Join refused: this join token was already used. Create a new one in Berth.");
      throw new AppError("UNAUTHORIZED", "Join refused: this join token has expired. Create a new one in Berth.");
    }
    const token = await tx.joinToken.findUniqueOrThrow({
      where: { tokenHash },
      select: { host: { select: { id: true, name: true } } },
    });
    const hostId = token.host.id;
    // A host has one identity: re-enrolling replaces the previous key.
    await tx.agent.deleteMany({ where: { hostId } });
    const agent = await tx.agent.create({
      data: { hostId, publicKey: opts.publicKey, fingerprint },
      select: { id: true },
    });
    // A new key starts clean: a duplicate seen with the old one is not this one's.
    await tx.host.update({ where: { id: hostId }, data: { status: "OFFLINE", duplicateSeenAt: null, duplicateAddresses: [] } });
    return { agentId: agent.id, hostId, hostName: token.host.name };
  });
}

export async function authenticateAgent(opts: {
  db: Db;
  agentId: string;
  signature: string;
  nonce: string;
}): Promise<AgentIdentity> {
  const agent = await opts.db.agent.findUnique({
    where: { id: opts.agentId },
    select: { id: true, publicKey: true, revoked: true, host: { select: { id: true, name: true } } },
  });
  if (!agent) throw new AppError("UNAUTHORIZED", "Connection refused: this agent is not known to the server. Enroll it again with a new join token.");
  if (agent.revoked) throw new AppError("UNAUTHORIZED", "Connection refused: this agent's key was revoked. Enroll it again with a new join token.");
  if (!verifySignature(agent.publicKey, authChallengeMessage(opts.nonce, agent.id), opts.signature)) {
    throw new AppError("UNAUTHORIZED", "Connection refused: the signature does not match this agent's registered key.");
  }
  return { agentId: agent.id, hostId: agent.host.id, hostName: agent.host.name };
}
