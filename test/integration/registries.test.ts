/**
 * Registries against real ones: Debian's docker-registry open, with htpasswd
 * (basic auth) and with Docker's token auth (Bearer challenge), each filled
 * by the real docker CLI (`docker push`). Berth must browse what the CLI
 * pushed — repositories, tags, the manifest whose digest `docker push`
 * printed and whose layers `docker image inspect` counts — refuse a wrong
 * password in words, keep the password unreadable in Postgres and in the
 * audit trail, and hand credentials only to members of the registry's teams, for hosts of its teams.
 */
import { readFile, stat } from "node:fs/promises";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { principalFromSession } from "../../server/context.ts";
import { SecretBox } from "../../server/crypto/secret-box.ts";
import { createHost } from "../../server/services/hosts.ts";
import { credentialsFor, registryConfigFor, resealRegistryPasswords, testRegistry } from "../../server/services/registries.ts";
import { callerFor, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../infra/berth.ts";
import { dockerCli, LAYERED_TEST_IMAGE, TEST_IMAGE } from "../infra/docker.ts";
import { REGISTRY_PASSWORD, REGISTRY_USER, startTestRegistry, type TestRegistry } from "../infra/registry.ts";

let t: TestServer;
const registries = {} as Record<"open" | "basic" | "token", TestRegistry>;
/** What `docker push` printed for each registry's team/layered:2.0. */
const pushed = {} as Record<"open" | "basic" | "token", string>;
let users: Record<"admin" | "manager" | "operator" | "outsider", TestUser>;
let teamId = "";
let otherTeamId = "";
let layerCount = 0;

beforeAll(async () => {
  const [open, basic, token] = await Promise.all([startTestRegistry({ auth: "none" }), startTestRegistry({ auth: "htpasswd" }), startTestRegistry({ auth: "token" })]);
  Object.assign(registries, { open, basic, token });
  for (const [key, registry] of Object.entries(registries) as Array<[keyof typeof registries, TestRegistry]>) {
    await registry.push(TEST_IMAGE, "team/busybox:1.0");
    pushed[key] = await registry.push(LAYERED_TEST_IMAGE, "team/layered:2.0");
  }
  layerCount = Number(await dockerCli(["image", "inspect", "--format", "{{len .RootFS.Layers}}", LAYERED_TEST_IMAGE]));
  t = await startTestServer({ name: "registries" });
  const db = t.server.db;
  teamId = (await db.team.create({ data: { name: "registry-team" } })).id;
  otherTeamId = (await db.team.create({ data: { name: "registry-other" } })).id;
  users = {
    admin: await createSignedInUser(t.server, { role: "admin" }),
    manager: await createSignedInUser(t.server),
    operator: await createSignedInUser(t.server),
    outsider: await createSignedInUser(t.server),
  };
  await db.teamMember.createMany({
    data: [
      { teamId, userId: users.manager.id, roleId: "role_admin" },
      { teamId, userId: users.operator.id, roleId: "role_operator" },
      { teamId: otherTeamId, userId: users.outsider.id, roleId: "role_admin" },
    ],
  });
}, 240_000);

afterAll(async () => {
  await t?.stop();
  await Promise.all(Object.values(registries).map((r) => r.stop()));
});

const as = (who: keyof typeof users) => callerFor(t.server, users[who]);

describe("registries through Berth", () => {
  const ids = {} as Record<"open" | "basic" | "token", string>;

  it("a team admin adds one registry of each kind; nobody reads a password back", async () => {
    const manager = await as("manager");
    ids.open = (await manager.registries.create({ teamId, name: "open", url: registries.open.url })).id;
    const basic = await manager.registries.create({ teamId, name: "basic", url: registries.basic.url, username: REGISTRY_USER, password: REGISTRY_PASSWORD });
    ids.basic = basic.id;
    ids.token = (await manager.registries.create({ teamId, name: "token", url: registries.token.url, username: REGISTRY_USER, password: REGISTRY_PASSWORD })).id;
    expect(basic).toMatchObject({ host: registries.basic.host, username: REGISTRY_USER, hasPassword: true, canManage: true });
    expect(JSON.stringify(basic)).not.toContain(REGISTRY_PASSWORD);
    const listed = await (await as("operator")).registries.list();
    expect(listed.map((r) => r.name).sort()).toEqual(["basic", "open", "token"]);
    expect(listed.every((r) => !r.canManage)).toBe(true);
    expect(JSON.stringify(listed)).not.toContain(REGISTRY_PASSWORD);
    expect(await (await as("outsider")).registries.list()).toEqual([]);
  });

  it("the stored password is not readable in the database, nor in the audit trail", async () => {
    const rows = await t.server.db.$queryRawUnsafe<Array<{ row: string }>>(`SELECT row_to_json(r)::text AS row FROM registry r`);
    expect(rows).toHaveLength(3);
    for (const { row } of rows) expect(row).not.toContain(REGISTRY_PASSWORD);
    const sealed = await t.server.db.registry.findUniqueOrThrow({ where: { id: ids.basic }, select: { passwordEncrypted: true } });
    expect(sealed.passwordEncrypted).toMatch(/^v1\.[0-9a-f]{16}\.[\w-]+\.[\w-]+$/);
    expect(Buffer.from(sealed.passwordEncrypted!.split(".")[3]!, "base64url").toString("latin1")).not.toContain(REGISTRY_PASSWORD);
    const audit = await t.server.db.$queryRawUnsafe<Array<{ params: string }>>(`SELECT params::text AS params FROM audit_event WHERE action = 'registries.create'`);
    expect(audit).toHaveLength(3);
    for (const { params } of audit) expect(params).not.toContain(REGISTRY_PASSWORD);
    expect(audit.some(({ params }) => params.includes(REGISTRY_USER))).toBe(true);
  });

  it("the key sealing it lives in the data dir with mode 0600, not in the database", async () => {
    const info = await stat(path.join(t.dataDir, "secret-key"));
    expect(info.mode & 0o777).toBe(0o600);
  });

  it.each(["open", "basic", "token"] as const)("%s: tests the connection and browses what docker push stored", async (kind) => {
    const manager = await as("manager");
    expect(await manager.registries.test({ registryId: ids[kind] })).toMatchObject({ ok: true, authenticated: kind !== "open" });
    const operator = await as("operator");
    const { repositories } = await operator.registries.repositories({ registryId: ids[kind] });
    expect(repositories).toEqual(["team/busybox", "team/layered"]);
    expect((await operator.registries.tags({ registryId: ids[kind], repository: "team/layered" })).tags).toEqual(["2.0"]);
    const manifest = await operator.registries.manifest({ registryId: ids[kind], repository: "team/layered", reference: "2.0" });
    expect(manifest.digest).toBe(pushed[kind]);
    expect(manifest.kind).toBe("image");
    expect(layerCount).toBeGreaterThan(1);
    expect(manifest.layers).toHaveLength(layerCount);
    expect(manifest.layers.every((l) => l.size > 0 && /^sha256:[a-f0-9]{64}$/.test(l.digest))).toBe(true);
    expect(manifest.totalSize).toBe(manifest.layers.reduce((s, l) => s + l.size, 0));
    expect(manifest.os).toBe("linux");
    // The same manifest by its digest.
    expect((await operator.registries.manifest({ registryId: ids[kind], repository: "team/layered", reference: pushed[kind] })).digest).toBe(pushed[kind]);
  });

  it("browsing is audited like a mutation, with the registry's name", async () => {
    const rows = await t.server.db.auditEvent.findMany({ where: { action: "registries.repositories", actorId: users.operator.id }, select: { outcome: true, targetName: true } });
    expect(rows.length).toBeGreaterThanOrEqual(3);
    expect(rows.map((r) => r.targetName).sort()).toEqual(expect.arrayContaining(["basic", "open", "token"]));
  });

  it("a missing tag is NOT_FOUND in words", async () => {
    await expect((await as("operator")).registries.manifest({ registryId: ids.basic, repository: "team/layered", reference: "nope" })).rejects.toThrow(/not found/);
  });

  it.each(["basic", "token"] as const)("%s: a wrong password is refused in words, and so is no password", async (kind) => {
    const manager = await as("manager");
    await manager.registries.update({ registryId: ids[kind], password: "not-the-password" });
    await expect(manager.registries.test({ registryId: ids[kind] })).rejects.toThrow(/wrong username or password/);
    await expect((await as("operator")).registries.repositories({ registryId: ids[kind] })).rejects.toThrow(/wrong username or password/);
    await manager.registries.update({ registryId: ids[kind], username: null, password: null });
    await expect(manager.registries.test({ registryId: ids[kind] })).rejects.toThrow(/needs credentials|wrong username or password/);
    const restored = await manager.registries.update({ registryId: ids[kind], username: REGISTRY_USER, password: REGISTRY_PASSWORD });
    expect(restored.hasPassword).toBe(true);
    expect(await manager.registries.test({ registryId: ids[kind] })).toMatchObject({ ok: true });
  });

  it("only managers change a registry; members of other teams cannot even browse it", async () => {
    await expect((await as("operator")).registries.update({ registryId: ids.basic, name: "renamed" })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await expect((await as("outsider")).registries.repositories({ registryId: ids.basic })).rejects.toMatchObject({ code: "FORBIDDEN" });
    // The outsider manages their own team but not this registry: sharing it with their team is refused.
    await expect((await as("outsider")).registries.share({ registryId: ids.basic, teamId: otherTeamId })).rejects.toMatchObject({ code: "FORBIDDEN" });
    // A global admin shares it; then the outsider's team uses it.
    await (await as("admin")).registries.share({ registryId: ids.basic, teamId: otherTeamId });
    expect((await (await as("outsider")).registries.repositories({ registryId: ids.basic })).repositories).toContain("team/busybox");
    await (await as("admin")).registries.unshare({ registryId: ids.basic, teamId: otherTeamId });
    await expect((await as("outsider")).registries.repositories({ registryId: ids.basic })).rejects.toMatchObject({ code: "FORBIDDEN" });
  });

  it("credentialsFor gives a matching reference's credentials to members of the registry's teams only", async () => {
    const of = async (who: keyof typeof users) =>
      principalFromSession((await t.server.auth.api.getSession({ headers: new Headers({ cookie: users[who].cookie }) }))!);
    // A host of the registry's team, and one of another team only (its agent must never get the password).
    const bus = t.server.deps.bus;
    const ownHost = (await createHost({ db: t.server.db, bus, name: "registry-own-host", teamIds: [teamId], ttlMinutes: 5, serverUrl: t.url })).hostId;
    const otherHost = (await createHost({ db: t.server.db, bus, name: "registry-other-host", teamIds: [otherTeamId], ttlMinutes: 5, serverUrl: t.url })).hostId;
    const deps = { db: t.server.db, secrets: t.server.deps.secrets, hostId: ownHost };
    const ref = `${registries.basic.host}/team/busybox:1.0`;
    expect(await credentialsFor({ ...deps, reference: ref, principal: await of("operator") })).toEqual({
      username: REGISTRY_USER,
      password: REGISTRY_PASSWORD,
      serveraddress: registries.basic.host,
    });
    expect(await credentialsFor({ ...deps, reference: ref, principal: await of("outsider") })).toBeNull();
    // The host decides too: an operator of both teams pulling on the other team's host, or a global admin
    // there, gets nothing (the caller's own team check alone would hand the password to that host's agent).
    const both = await createSignedInUser(t.server);
    await t.server.db.teamMember.createMany({ data: [{ teamId, userId: both.id, roleId: "role_operator" }, { teamId: otherTeamId, userId: both.id, roleId: "role_operator" }] });
    const bothPrincipal = principalFromSession((await t.server.auth.api.getSession({ headers: new Headers({ cookie: both.cookie }) }))!);
    expect(await credentialsFor({ ...deps, reference: ref, principal: bothPrincipal })).toMatchObject({ username: REGISTRY_USER });
    expect(await credentialsFor({ ...deps, hostId: otherHost, reference: ref, principal: bothPrincipal })).toBeNull();
    expect(await credentialsFor({ ...deps, hostId: otherHost, reference: ref, principal: await of("admin") })).toBeNull();
    expect(await credentialsFor({ ...deps, reference: ref, principal: await of("admin") })).toMatchObject({ username: REGISTRY_USER });
    // A build's X-Registry-Config follows the same rule: the building host's teams, and the caller's.
    const buildConfig = { db: t.server.db, secrets: t.server.deps.secrets };
    expect(await registryConfigFor({ ...buildConfig, hostId: ownHost, principal: bothPrincipal })).toMatchObject({ [registries.basic.host]: { username: REGISTRY_USER, password: REGISTRY_PASSWORD } });
    expect(await registryConfigFor({ ...buildConfig, hostId: otherHost, principal: bothPrincipal })).toBeNull();
    expect(await registryConfigFor({ ...buildConfig, hostId: otherHost, principal: await of("admin") })).toBeNull();
    expect(await registryConfigFor({ ...buildConfig, hostId: ownHost, principal: await of("outsider") })).toBeNull();
    // Pushing asks for image.push in that team (built-in operators hold it).
    expect(await credentialsFor({ ...deps, reference: ref, principal: await of("operator"), permission: "image.push" })).toMatchObject({ username: REGISTRY_USER });
    // The open registry has no credentials; Docker Hub has no registry row here.
    expect(await credentialsFor({ ...deps, reference: `${registries.open.host}/team/busybox`, principal: await of("operator") })).toBeNull();
    expect(await credentialsFor({ ...deps, reference: "busybox", principal: await of("admin") })).toBeNull();
    await expect(credentialsFor({ ...deps, reference: "Team/App", principal: await of("admin") })).rejects.toThrow(/must be lower-case/);
    // The credentials it hands out are what the registry accepts: docker login with them works.
    const auth = await credentialsFor({ ...deps, reference: ref, principal: await of("operator") });
    const check = await fetch(`${registries.basic.url}/v2/`, { headers: { authorization: "Basic " + Buffer.from(`${auth!.username}:${auth!.password}`).toString("base64") } });
    expect(check.status).toBe(200);
  });

  it("a manager who never saw the password cannot point it at a server of theirs: a new address needs it again, and an address changed in the database opens nothing", async () => {
    // A server that asks for Basic credentials and keeps whatever it is sent.
    const received: string[] = [];
    const trap = createServer((req, res) => {
      if (req.headers.authorization) received.push(req.headers.authorization);
      res.writeHead(401, { "www-authenticate": 'Basic realm="trap"', "docker-distribution-api-version": "registry/2.0" }).end();
    });
    await new Promise<void>((resolve) => trap.listen(0, "127.0.0.1", resolve));
    const trapUrl = `http://127.0.0.1:${(trap.address() as AddressInfo).port}`;
    try {
      const manager = await as("manager");
      await expect(manager.registries.update({ registryId: ids.basic, url: trapUrl })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringMatching(/needs its password again/) });
      const unchanged = await t.server.db.registry.findUniqueOrThrow({ where: { id: ids.basic }, select: { url: true, host: true } });
      expect(unchanged).toEqual({ url: registries.basic.url, host: registries.basic.host });

      // Someone who can write the row but has not the key moves it: the sealed password is bound to the old address.
      await t.server.db.registry.update({ where: { id: ids.basic }, data: { url: trapUrl, host: new URL(trapUrl).host } });
      await expect(manager.registries.test({ registryId: ids.basic })).rejects.toMatchObject({ code: "PRECONDITION_FAILED" });
      expect(received).toEqual([]);
      await t.server.db.registry.update({ where: { id: ids.basic }, data: { url: registries.basic.url, host: registries.basic.host } });
      expect(await manager.registries.test({ registryId: ids.basic })).toMatchObject({ ok: true, authenticated: true });

      // Changing the address with the password typed again is an ordinary edit (and back).
      await manager.registries.update({ registryId: ids.basic, url: trapUrl, password: "typed-again" });
      await expect(manager.registries.test({ registryId: ids.basic })).rejects.toThrow();
      expect(received).toEqual(["Basic " + Buffer.from(`${REGISTRY_USER}:typed-again`).toString("base64")]);
      await manager.registries.update({ registryId: ids.basic, url: registries.basic.url, password: REGISTRY_PASSWORD });
      expect(await manager.registries.test({ registryId: ids.basic })).toMatchObject({ ok: true, authenticated: true });
    } finally {
      trap.close();
    }
  });

  it("a password sealed before it was bound to its address still opens, and the next start re-seals it bound", async () => {
    const secrets = t.server.deps.secrets;
    await t.server.db.registry.update({ where: { id: ids.token }, data: { passwordEncrypted: secrets.seal(REGISTRY_PASSWORD, `registry:${ids.token}:password`) } });
    expect(await testRegistry({ db: t.server.db, secrets, registryId: ids.token })).toMatchObject({ ok: true, authenticated: true });
    expect(await resealRegistryPasswords({ db: t.server.db, secrets })).toEqual({ resealed: 1, unreadable: 0 });
    const { passwordEncrypted } = await t.server.db.registry.findUniqueOrThrow({ where: { id: ids.token }, select: { passwordEncrypted: true } });
    expect(() => secrets.open(passwordEncrypted!, `registry:${ids.token}:password`)).toThrow();
    expect(await testRegistry({ db: t.server.db, secrets, registryId: ids.token })).toMatchObject({ ok: true, authenticated: true });
  });

  it("key rotation: after a restart with a new key and the old one as previous, passwords are re-sealed and still work", async () => {
    const fileKey = Buffer.from((await readFile(path.join(t.dataDir, "secret-key"), "utf8")).trim(), "base64");
    const newKey = Buffer.alloc(32, 7);
    const rotated = new SecretBox(newKey, [fileKey]);
    const before = await t.server.db.registry.findMany({ where: { passwordEncrypted: { not: null } }, select: { id: true, passwordEncrypted: true } });
    expect(before.length).toBeGreaterThanOrEqual(2);
    expect(await resealRegistryPasswords({ db: t.server.db, secrets: rotated })).toEqual({ resealed: before.length, unreadable: 0 });
    // Only the new key is needed from now on.
    const onlyNew = new SecretBox(newKey);
    expect(await testRegistry({ db: t.server.db, secrets: onlyNew, registryId: ids.basic })).toMatchObject({ ok: true, authenticated: true });
    // And the old key alone no longer opens them.
    await expect(testRegistry({ db: t.server.db, secrets: new SecretBox(fileKey), registryId: ids.basic })).rejects.toThrow(/key this server does not have/);
    // Put the server's own key back for whatever runs after.
    await resealRegistryPasswords({ db: t.server.db, secrets: new SecretBox(fileKey, [newKey]) });
  });

  it("a manager removes a registry", async () => {
    await (await as("manager")).registries.remove({ registryId: ids.open });
    expect((await (await as("operator")).registries.list()).map((r) => r.name)).not.toContain("open");
  });
});
