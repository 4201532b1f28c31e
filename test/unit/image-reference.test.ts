/**
 * agent/image-reference.ts against the hand-written table of
 * test/unit/image-reference-cases.ts (Docker's reference grammar); the rows
 * marked `oracle` are also checked against the real Docker CLI and dockerd in
 * test/integration/image-reference-oracle.test.ts.
 */
import { describe, expect, it } from "vitest";
import { normalizeRegistryHost, parseImageReference, parseImageReferenceOrThrow, registryApiHost } from "../../agent/image-reference.ts";
import { INVALID, VALID } from "./image-reference-cases.ts";

describe("parseImageReference", () => {
  it("has a table of at least 40 tricky references, valid and invalid", () => {
    expect(VALID.length).toBeGreaterThanOrEqual(20);
    expect(INVALID.length).toBeGreaterThanOrEqual(20);
    expect(VALID.length + INVALID.length).toBeGreaterThanOrEqual(40);
  });

  it.each(VALID.map((c) => [c.input.length > 60 ? `${c.input.slice(0, 57)}…` : c.input, c] as const))("%s", (_label, c) => {
    const result = parseImageReference(c.input);
    if (!result.ok) throw new Error(`expected valid, got: ${result.error.message}`);
    expect(result.reference).toMatchObject({ registry: c.registry, path: c.path, tag: c.tag, digest: c.digest, familiar: c.familiar, canonical: c.canonical });
    expect(result.reference.name).toBe(c.registry ? `${c.registry}/${c.path}` : c.path);
  });

  it.each(INVALID.map((c) => [c.input.length > 60 ? `${c.input.slice(0, 57)}…` : c.input || "(empty)", c] as const))("%s is refused", (_label, c) => {
    const result = parseImageReference(c.input);
    if (result.ok) throw new Error(`expected an error, got ${result.reference.canonical}`);
    expect(result.error.kind).toBe(c.kind);
    expect(result.error.message).toMatch(c.message);
    expect(result.error.message.startsWith(`Invalid image reference "`)).toBe(true);
  });

  it("throws the same error from the throwing form", () => {
    expect(() => parseImageReferenceOrThrow("team/App")).toThrow(/must be lower-case/);
    expect(parseImageReferenceOrThrow("busybox").canonical).toBe("docker.io/library/busybox:latest");
  });
});

describe("registry hosts", () => {
  it.each([
    ["localhost:5000", "localhost:5000"],
    ["http://127.0.0.1:5000/", "127.0.0.1:5000"],
    ["https://ghcr.io/v2/", "ghcr.io"],
    ["index.docker.io", "docker.io"],
    ["https://index.docker.io/v1/", "docker.io"],
    ["registry-1.docker.io", "docker.io"],
  ])("%s is the registry %s", (address, host) => expect(normalizeRegistryHost(address)).toBe(host));
  it.each(["", "http://", "exa mple.com", "-bad.com", "host:port"])("%j is not a registry", (address) => expect(normalizeRegistryHost(address)).toBeNull());
  it("speaks to Docker Hub's API host", () => {
    expect(registryApiHost("docker.io")).toBe("registry-1.docker.io");
    expect(registryApiHost("localhost:5000")).toBe("localhost:5000");
  });
});

describe("Docker Hub as a registry row", () => {
  it("is matched as docker.io and browsed at registry-1.docker.io", async () => {
    const { registryHostOf } = await import("../../server/services/registries.ts");
    expect(registryHostOf("https://index.docker.io")).toBe("docker.io");
    expect(registryHostOf("https://registry-1.docker.io")).toBe("docker.io");
    expect(registryHostOf("http://127.0.0.1:5000")).toBe("127.0.0.1:5000");
    expect(registryHostOf("https://Registry.Example.com:8443")).toBe("registry.example.com:8443");
  });
});
