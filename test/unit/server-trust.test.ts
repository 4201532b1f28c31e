import { generateKeyPairSync, sign } from "node:crypto";
import { describe, expect, it } from "vitest";
import { serverProofMessage } from "../../agent/protocol.ts";
import { expectedServerFingerprint, spkiFingerprint, verifyServerProof } from "../../agent/server-trust.ts";
import { deriveServerKey, signWithServerKey } from "../../server/crypto/server-key.ts";

const key = deriveServerKey("unit-test-secret-0123456789abcdef");
const proofFor = (serverNonce: string, agentNonce: string, subject: string) => ({
  publicKey: key.publicKeyPem,
  signature: signWithServerKey(key, serverProofMessage(serverNonce, agentNonce, subject)),
});
const N1 = "n".repeat(43);
const N2 = "m".repeat(43);

describe("the agent's check of the server", () => {
  it("computes the same fingerprint as the server prints in the join command", () => {
    expect(spkiFingerprint(key.publicKeyPem)).toBe(key.fingerprint);
  });

  it("accepts the pinned key signing this connection's nonces and agent id, and nothing else", () => {
    const ok = { serverNonce: N1, agentNonce: N2, subject: "agent-1", expected: key.fingerprint };
    expect(verifyServerProof({ ...ok, proof: proofFor(N1, N2, "agent-1") })).toEqual({ ok: true, fingerprint: key.fingerprint });
    // Replayed from another connection, for another agent, or missing.
    expect(verifyServerProof({ ...ok, proof: proofFor(N1, "x".repeat(43), "agent-1") })).toMatchObject({ ok: false, reason: /signature/ });
    expect(verifyServerProof({ ...ok, proof: proofFor(N1, N2, "agent-2") })).toMatchObject({ ok: false, reason: /signature/ });
    expect(verifyServerProof({ ...ok, proof: undefined })).toMatchObject({ ok: false, reason: /did not prove/ });
    // A validly signed proof by another key.
    const other = deriveServerKey("another-secret-0123456789abcdef");
    const foreign = { publicKey: other.publicKeyPem, signature: signWithServerKey(other, serverProofMessage(N1, N2, "agent-1")) };
    expect(verifyServerProof({ ...ok, proof: foreign })).toMatchObject({ ok: false, reason: /does not match the pinned fingerprint/ });
    // Not Ed25519.
    const rsa = generateKeyPairSync("rsa", { modulusLength: 1024 });
    const rsaProof = { publicKey: rsa.publicKey.export({ type: "spki", format: "pem" }).toString(), signature: sign("sha256", Buffer.from("x"), rsa.privateKey).toString("base64") };
    expect(verifyServerProof({ ...ok, expected: null, proof: rsaProof })).toMatchObject({ ok: false });
  });

  it("needs a fingerprint to join unless the insecure override is set; a pin wins and must agree with the setting", () => {
    const fp = key.fingerprint;
    expect(expectedServerFingerprint({ pinned: undefined, configured: undefined, insecureTrustFirst: false, joined: false })).toMatchObject({ error: /BERTH_SERVER_FINGERPRINT is required/ });
    expect(expectedServerFingerprint({ pinned: undefined, configured: undefined, insecureTrustFirst: true, joined: false })).toEqual({ expected: null });
    expect(expectedServerFingerprint({ pinned: undefined, configured: fp, insecureTrustFirst: false, joined: false })).toEqual({ expected: fp });
    expect(expectedServerFingerprint({ pinned: fp, configured: undefined, insecureTrustFirst: false, joined: true })).toEqual({ expected: fp });
    expect(expectedServerFingerprint({ pinned: fp, configured: "SHA256:" + "0".repeat(64), insecureTrustFirst: false, joined: true })).toMatchObject({ error: /differs/ });
    expect(expectedServerFingerprint({ pinned: undefined, configured: undefined, insecureTrustFirst: false, joined: true })).toMatchObject({ error: /no pinned server key/ });
  });
});
