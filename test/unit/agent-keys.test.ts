import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { generateKeyPair, identityPath, loadIdentity, saveIdentity, signMessage } from "../../agent/identity.ts";
import { hashJoinToken, keyFingerprint, newJoinToken } from "../../server/services/agents.ts";

describe("agent keys", () => {
  it("keeps the private key in a file only its owner can read", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "berth-keys-"));
    try {
      const keys = generateKeyPair();
      await saveIdentity(dir, { agentId: "a1", hostId: "h1", serverUrl: "http://x", privateKeyPem: keys.privateKeyPem });
      expect((await stat(identityPath(dir))).mode & 0o777).toBe(0o600);
      expect((await stat(dir)).mode & 0o777).toBe(0o700);
      const loaded = await loadIdentity(dir);
      expect(loaded?.agentId).toBe("a1");
      // The reloaded key signs exactly like the original.
      expect(signMessage(loaded!.privateKey, "m")).toBe(signMessage(keys.privateKey, "m"));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fingerprints a public key stably and distinctly", () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    expect(keyFingerprint(a.publicKeyPem)).toBe(keyFingerprint(a.publicKeyPem));
    expect(keyFingerprint(a.publicKeyPem)).not.toBe(keyFingerprint(b.publicKeyPem));
  });

  it("issues unguessable join tokens and stores only their hash", () => {
    const token = newJoinToken();
    expect(token).toMatch(/^bjt_[A-Za-z0-9_-]{43}$/);
    expect(newJoinToken()).not.toBe(token);
    expect(hashJoinToken(token)).toMatch(/^[0-9a-f]{64}$/);
    expect(hashJoinToken(token)).not.toContain(token.slice(4));
  });
});
