import { describe, expect, it, vi } from "vitest";
import { parseAgentEnv } from "../../agent/env.ts";
import { parseServerEnv } from "../../server/env.ts";

describe("server configuration", () => {
  it("uses the embedded database and a local URL by default", () => {
    const env = parseServerEnv({});
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.publicUrl).toBe("http://localhost:3000");
    expect(env.BERTH_HOST_OFFLINE_AFTER_SECONDS).toBe(15);
  });

  it("fails with a readable message naming the bad setting", () => {
    expect(() => parseServerEnv({ BERTH_PORT: "eighty" })).toThrow(/Invalid Berth configuration:\n\s+BERTH_PORT/);
    expect(() => parseServerEnv({ BERTH_ADMIN_PASSWORD: "short" })).toThrow(/BERTH_ADMIN_PASSWORD/);
  });

  it("warns about unknown BERTH_ settings (typos) without failing", () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => undefined);
    parseServerEnv({ BERTH_PROT: "3000" });
    expect(warn).toHaveBeenCalledWith(expect.stringContaining("BERTH_PROT"));
    warn.mockRestore();
  });
});

describe("agent configuration", () => {
  it("requires the server URL", () => {
    expect(() => parseAgentEnv({})).toThrow(/BERTH_SERVER_URL/);
  });

  it("talks only to a local Docker socket", () => {
    expect(parseAgentEnv({ BERTH_SERVER_URL: "https://berth:3000" }).socketPath).toBe("/var/run/docker.sock");
    expect(parseAgentEnv({ BERTH_SERVER_URL: "https://berth:3000", DOCKER_HOST: "unix:///tmp/d.sock" }).socketPath).toBe("/tmp/d.sock");
    expect(() => parseAgentEnv({ BERTH_SERVER_URL: "https://berth:3000", DOCKER_HOST: "tcp://10.0.0.1:2375" })).toThrow(/unix sockets/);
  });

  it("refuses plain http:// off this machine unless explicitly allowed", () => {
    expect(() => parseAgentEnv({ BERTH_SERVER_URL: "http://berth:3000" })).toThrow(/BERTH_SERVER_URL: http:\/\/berth:3000 is plain http:\/\/.*BERTH_ALLOW_INSECURE_HTTP=true/);
    expect(() => parseAgentEnv({ BERTH_SERVER_URL: "http://10.0.0.5" })).toThrow(/plain http/);
    expect(parseAgentEnv({ BERTH_SERVER_URL: "http://berth:3000", BERTH_ALLOW_INSECURE_HTTP: "true" }).BERTH_ALLOW_INSECURE_HTTP).toBe(true);
    for (const local of ["http://localhost:3000", "http://127.0.0.1:3000", "http://[::1]:3000"]) {
      expect(parseAgentEnv({ BERTH_SERVER_URL: local }).BERTH_SERVER_URL).toBe(local);
    }
    expect(() => parseAgentEnv({ BERTH_SERVER_URL: "ftp://berth" })).toThrow(/BERTH_SERVER_URL/);
  });

  it("accepts only a well-formed server fingerprint", () => {
    const fp = "SHA256:" + "ab".repeat(32);
    expect(parseAgentEnv({ BERTH_SERVER_URL: "https://berth", BERTH_SERVER_FINGERPRINT: fp }).BERTH_SERVER_FINGERPRINT).toBe(fp);
    expect(() => parseAgentEnv({ BERTH_SERVER_URL: "https://berth", BERTH_SERVER_FINGERPRINT: "SHA256:xyz" })).toThrow(/BERTH_SERVER_FINGERPRINT/);
  });
});
