/**
 * The registry test infrastructure itself (test/infra/registry.ts): real
 * registries that the test daemons push to and pull from — the main dockerd
 * and an extra one in its own network namespace, reached through the same
 * 127.0.0.1 reference — with their authentication really enforced.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dockerCli, LAYERED_TEST_IMAGE, startExtraDockerHost, type ExtraDockerHost } from "../infra/docker.ts";
import { REGISTRY_PASSWORD, REGISTRY_USER, startTestRegistry, type TestRegistry } from "../infra/registry.ts";

let second: ExtraDockerHost;
const registries: TestRegistry[] = [];

beforeAll(async () => {
  second = await startExtraDockerHost("reg2");
}, 180_000);

afterAll(async () => {
  await Promise.all(registries.map((r) => r.stop()));
  await second?.stop();
});

describe("test registries", () => {
  it.each(["htpasswd", "token"] as const)("%s: refuses anonymous and wrong credentials, accepts the right ones", async (auth) => {
    const registry = await startTestRegistry({ auth });
    registries.push(registry);
    const anonymous = await fetch(`${registry.url}/v2/_catalog`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(auth === "htpasswd" ? /^Basic / : /^Bearer realm="http:\/\/127\.0\.0\.1:\d+\/token"/);
    const basic = (user: string, password: string) => ({ authorization: "Basic " + Buffer.from(`${user}:${password}`).toString("base64") });
    if (auth === "htpasswd") {
      expect((await fetch(`${registry.url}/v2/`, { headers: basic(REGISTRY_USER, "wrong") })).status).toBe(401);
      expect((await fetch(`${registry.url}/v2/`, { headers: basic(REGISTRY_USER, REGISTRY_PASSWORD) })).status).toBe(200);
    } else {
      const realm = /realm="([^"]+)"/.exec(anonymous.headers.get("www-authenticate")!)![1]!;
      expect((await fetch(`${realm}?service=berth-test-registry`, { headers: basic(REGISTRY_USER, "wrong") })).status).toBe(401);
      const { token } = (await (await fetch(`${realm}?service=berth-test-registry&scope=registry:catalog:*`, { headers: basic(REGISTRY_USER, REGISTRY_PASSWORD) })).json()) as { token: string };
      expect((await fetch(`${registry.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${registry.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}x` } })).status).toBe(401);
    }
  });

  it.each(["htpasswd", "token"] as const)("%s: an image pushed from the main daemon is pulled by a daemon in another network namespace", async (auth) => {
    const registry = await startTestRegistry({ auth });
    registries.push(registry);
    await registry.exposeTo(second);
    const digest = await registry.push(LAYERED_TEST_IMAGE, "team/layered:2.0");
    const ref = `${registry.host}/team/layered:2.0`;
    await registry.docker(["pull", ref], { host: second.dockerHost });
    const repoDigests = JSON.parse(await dockerCli(["image", "inspect", "--format", "{{json .RepoDigests}}", ref], { host: second.dockerHost })) as string[];
    expect(repoDigests).toContain(`${registry.host}/team/layered@${digest}`);
    // Same image content as the local one it was pushed from.
    const [pulledId, localId] = await Promise.all([
      dockerCli(["image", "inspect", "--format", "{{.Id}}", ref], { host: second.dockerHost }),
      dockerCli(["image", "inspect", "--format", "{{.Id}}", LAYERED_TEST_IMAGE]),
    ]);
    expect(pulledId).toBe(localId);
    await dockerCli(["rmi", ref], { host: second.dockerHost });
  });
});
