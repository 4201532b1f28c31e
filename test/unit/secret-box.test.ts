/**
 * server/crypto/secret-box.ts (AES-256-GCM sealing of stored secrets) and the
 * registry client's challenge parser. Expected values are written out here.
 */
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { loadSecretBox, parseSecretKey, SecretBox } from "../../server/crypto/secret-box.ts";
import { parseChallenge } from "../../server/services/registry-client.ts";

const A = Buffer.alloc(32, 1);
const B = Buffer.alloc(32, 2);

describe("SecretBox", () => {
  it("seals so that only the same key and context open it", () => {
    const box = new SecretBox(A);
    const sealed = box.seal("hunter2-password", "registry:r1:password");
    expect(sealed).not.toContain("hunter2");
    expect(sealed.split(".")).toHaveLength(4);
    expect(box.open(sealed, "registry:r1:password")).toBe("hunter2-password");
    // Random IV: the same secret seals differently each time.
    expect(box.seal("hunter2-password", "registry:r1:password")).not.toBe(sealed);
    expect(() => box.open(sealed, "registry:r2:password")).toThrow(/altered or belongs to another record/);
    expect(() => new SecretBox(B).open(sealed, "registry:r1:password")).toThrow(/key this server does not have/);
  });

  it("detects tampering", () => {
    const box = new SecretBox(A);
    const [v, id, iv, body] = box.seal("secret", "c").split(".") as [string, string, string, string];
    const bytes = Buffer.from(body, "base64url");
    bytes[0]! ^= 1;
    expect(() => box.open([v, id, iv, bytes.toString("base64url")].join("."), "c")).toThrow(/altered/);
    expect(() => box.open("plain text", "c")).toThrow(/not a sealed value/);
  });

  it("rotates: a previous key opens, only the current one seals, stale values are told apart", () => {
    const old = new SecretBox(A);
    const sealedOld = old.seal("pw", "c");
    const rotated = new SecretBox(B, [A]);
    expect(rotated.open(sealedOld, "c")).toBe("pw");
    expect(rotated.isStale(sealedOld)).toBe(true);
    const sealedNew = rotated.seal("pw", "c");
    expect(rotated.isStale(sealedNew)).toBe(false);
    expect(() => old.open(sealedNew, "c")).toThrow(/key this server does not have/);
  });

  it("reads keys as base64 of 32 bytes and says what is wrong otherwise", () => {
    expect(parseSecretKey(A.toString("base64"), "K").equals(A)).toBe(true);
    expect(parseSecretKey(A.toString("base64url"), "K").equals(A)).toBe(true);
    expect(() => parseSecretKey(Buffer.alloc(16).toString("base64"), "BERTH_SECRET_KEY")).toThrow(/BERTH_SECRET_KEY must decode to 32 bytes; it decodes to 16/);
    expect(() => parseSecretKey("not base64!", "BERTH_SECRET_KEY")).toThrow(/base64 of 32 random bytes/);
  });

  it("generates a 0600 key file once and reuses it; the env key wins", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "berth-secret-box-"));
    try {
      const first = await loadSecretBox({ dataDir: dir });
      expect(first.source).toBe("generated");
      expect((await stat(path.join(dir, "secret-key"))).mode & 0o777).toBe(0o600);
      expect(Buffer.from((await readFile(path.join(dir, "secret-key"), "utf8")).trim(), "base64")).toHaveLength(32);
      const second = await loadSecretBox({ dataDir: dir });
      expect(second.source).toBe("file");
      expect(second.box.open(first.box.seal("x", "c"), "c")).toBe("x");
      const fromEnv = await loadSecretBox({ dataDir: dir, key: B.toString("base64") });
      expect(fromEnv.source).toBe("env");
      expect(fromEnv.box.currentKeyId).not.toBe(first.box.currentKeyId);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("registry auth challenges", () => {
  it.each([
    ['Basic realm="berth-test"', { scheme: "basic" }],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      { scheme: "bearer", realm: "https://auth.docker.io/token", service: "registry.docker.io", scope: "repository:library/busybox:pull" },
    ],
    ['bearer realm="http://127.0.0.1:1/token", service="x"', { scheme: "bearer", realm: "http://127.0.0.1:1/token", service: "x", scope: undefined }],
    ["Bearer service=x", null],
    ["Negotiate abc", null],
    [null, null],
  ])("%s", (header, expected) => expect(parseChallenge(header)).toEqual(expected));
});
