/**
 * The agent's own key pair. Generated on the agent's machine at join time;
 * the private key is written 0600 and never sent anywhere. Later connections
 * prove possession by signing the server's per-connection nonce.
 */
import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { z } from "zod";

const ZIdentityFile = z.object({
  agentId: z.string().min(1),
  hostId: z.string().min(1),
  serverUrl: z.string(),
  privateKeyPem: z.string().startsWith("-----BEGIN PRIVATE KEY-----"),
  /** The server key this agent trusts (`SHA256:<hex>`), pinned at join. Absent in files written before pinning existed. */
  serverFingerprint: z.string().regex(/^SHA256:[0-9a-f]{64}$/).optional(),
});
export type IdentityFile = z.infer<typeof ZIdentityFile>;

export type KeyPair = { privateKey: KeyObject; publicKeyPem: string; privateKeyPem: string };

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKey,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    privateKeyPem: privateKey.export({ type: "pkcs8", format: "pem" }).toString(),
  };
}

export function signMessage(privateKey: KeyObject, message: string): string {
  return sign(null, Buffer.from(message), privateKey).toString("base64");
}

export function identityPath(stateDir: string): string {
  return path.join(stateDir, "identity.json");
}

export async function loadIdentity(stateDir: string): Promise<(IdentityFile & { privateKey: KeyObject }) | null> {
  const file = identityPath(stateDir);
  if (!existsSync(file)) return null;
  const parsed = ZIdentityFile.safeParse(JSON.parse(await readFile(file, "utf8")));
  if (!parsed.success) throw new Error(`${file} is not a valid Berth agent identity; delete it and join again with a new token`);
  return { ...parsed.data, privateKey: createPrivateKey(parsed.data.privateKeyPem) };
}

/** Written atomically (temp file + rename) with mode 0600 in a 0700 folder. */
export async function saveIdentity(stateDir: string, identity: IdentityFile): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  await chmod(stateDir, 0o700);
  const file = identityPath(stateDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(identity, null, 2) + "\n", { mode: 0o600 });
  await chmod(tmp, 0o600);
  await rename(tmp, file);
}
