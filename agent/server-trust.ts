/**
 * The agent trusts exactly one server: the one whose Ed25519 key fingerprint it
 * pinned when it joined (given by the operator in the join command as
 * BERTH_SERVER_FINGERPRINT). On every connection the agent sends a fresh
 * challenge in the socket.io handshake; the server's `hello` must carry its
 * public key and a signature over both nonces and the agent id. Until that
 * checks out the agent sends nothing (no join token, no signature, no
 * inventory) and runs nothing.
 *
 * This file is self-contained on purpose: the agent image ships only `agent/`.
 */
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { serverProofMessage, type TServerProof } from "./protocol.ts";

export const FINGERPRINT_PATTERN = /^SHA256:[0-9a-f]{64}$/;

export function newAgentNonce(): string {
  return randomBytes(32).toString("base64url");
}

/** `SHA256:<hex>` of the key's SPKI DER: the same form the server prints in the join command. */
export function spkiFingerprint(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
  return "SHA256:" + createHash("sha256").update(der).digest("hex");
}

export type ServerVerdict = { ok: true; fingerprint: string } | { ok: false; reason: string };

/**
 * Checks the server's proof for this connection. `expected` is the pinned (or,
 * when joining, the operator-given) fingerprint; null only with the explicit
 * insecure override, in which case any correctly signed key is accepted and
 * the caller pins it.
 */
export function verifyServerProof(opts: {
  proof: TServerProof | undefined;
  serverNonce: string;
  agentNonce: string;
  subject: string;
  expected: string | null;
}): ServerVerdict {
  const { proof } = opts;
  if (!proof) return { ok: false, reason: "the server did not prove its identity (no key or signature in its hello; is it an older Berth, or not Berth at all?)" };
  let fingerprint: string;
  try {
    const key = createPublicKey(proof.publicKey);
    if (key.asymmetricKeyType !== "ed25519") return { ok: false, reason: "the server's key is not an Ed25519 key" };
    fingerprint = spkiFingerprint(proof.publicKey);
    if (opts.expected !== null && fingerprint !== opts.expected) {
      return { ok: false, reason: `the server's key ${fingerprint} does not match the pinned fingerprint ${opts.expected}` };
    }
    const message = Buffer.from(serverProofMessage(opts.serverNonce, opts.agentNonce, opts.subject));
    if (!verify(null, message, key, Buffer.from(proof.signature, "base64"))) {
      return { ok: false, reason: "the server's signature over this connection's challenge is invalid" };
    }
  } catch {
    return { ok: false, reason: "the server sent an unreadable key or signature" };
  }
  return { ok: true, fingerprint };
}

/**
 * Which fingerprint this agent expects, decided once at start. A pin in
 * identity.json wins; an operator-given fingerprint that disagrees with it is a
 * configuration error (the server key was rotated, or the wrong server is
 * configured): say so instead of guessing.
 */
export function expectedServerFingerprint(opts: {
  pinned: string | undefined;
  configured: string | undefined;
  insecureTrustFirst: boolean;
  joined: boolean;
}): { expected: string | null } | { error: string } {
  if (opts.pinned) {
    if (opts.configured && opts.configured !== opts.pinned) {
      return {
        error:
          `BERTH_SERVER_FINGERPRINT (${opts.configured}) differs from the server key pinned in identity.json (${opts.pinned}). ` +
          "If the server's key was rotated on purpose, join this host again with a new token; otherwise check BERTH_SERVER_URL.",
      };
    }
    return { expected: opts.pinned };
  }
  if (opts.configured) return { expected: opts.configured };
  if (opts.insecureTrustFirst) return { expected: null };
  return {
    error: opts.joined
      ? "identity.json has no pinned server key (joined with an older agent): set BERTH_SERVER_FINGERPRINT to the fingerprint shown in Berth's Add host dialog (or BERTH_INSECURE_TRUST_FIRST_SERVER=true to pin the first server that answers)."
      : "BERTH_SERVER_FINGERPRINT is required to join: copy the whole command from Berth's Add host dialog (or set BERTH_INSECURE_TRUST_FIRST_SERVER=true to pin the first server that answers, which an attacker on the path could be).",
  };
}
