/**
 * The server's long-lived Ed25519 identity.
 *
 * Agents pin its fingerprint when they join and then refuse any server that
 * cannot sign their challenge with it; the audit trail's checkpoints are
 * signed with it too. It is derived from BERTH_SECRET (HKDF-SHA256 with a
 * purpose label), so every replica sharing that secret holds the same key
 * without the key ever being stored in Postgres, and nothing extra needs
 * backing up. Rotating BERTH_SECRET rotates this key: agents must then re-join.
 */
import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign, verify, type KeyObject } from "node:crypto";

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows it. */
const ED25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");

export type ServerKey = {
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** SPKI PEM, what verifiers are given. */
  publicKeyPem: string;
  /** `SHA256:<hex>` of the SPKI DER: what the join command carries and agents pin. */
  fingerprint: string;
};

export function publicKeyFingerprint(publicKey: KeyObject | string): string {
  const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
  const der = key.export({ type: "spki", format: "der" });
  return "SHA256:" + createHash("sha256").update(der).digest("hex");
}

export function deriveServerKey(secret: string): ServerKey {
  const seed = Buffer.from(hkdfSync("sha256", secret, "berth", "berth-server-ed25519-v1", 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  const publicKey = createPublicKey(privateKey);
  return {
    privateKey,
    publicKey,
    publicKeyPem: publicKey.export({ type: "spki", format: "pem" }).toString(),
    fingerprint: publicKeyFingerprint(publicKey),
  };
}

export function signWithServerKey(key: ServerKey, message: string | Buffer): string {
  return sign(null, Buffer.from(message), key.privateKey).toString("base64");
}

export function verifyServerSignature(publicKey: KeyObject | string, message: string | Buffer, signatureB64: string): boolean {
  try {
    const key = typeof publicKey === "string" ? createPublicKey(publicKey) : publicKey;
    if (key.asymmetricKeyType !== "ed25519") return false;
    return verify(null, Buffer.from(message), key, Buffer.from(signatureB64, "base64"));
  } catch {
    return false;
  }
}
