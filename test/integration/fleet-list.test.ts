/**
 * The fleet-wide container list (`containers.fleet`) against rows this file
 * puts in Postgres itself: four hosts, three of them in teams. Every expected
 * answer is computed here by a plain JS filter and sort over what was
 * inserted (byte order, as documented for the list), never by the service.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../infra/berth.ts";

type Seed = {
  hostId: string;
  hostName: string;
  dockerId: string;
  name: string;
  image: string;
  state: string;
  health: string | null;
  createdAt: Date;
  labels: Record<string, string>;
  ports: Array<{ ip?: string; privatePort: number; publicPort?: number; type: string }>;
};

const STATES = ["running", "exited", "paused", "created", "restarting", "dead"] as const;
const HEALTH = [null, "healthy", "unhealthy", "starting"];
const IMAGES = ["nginx:1.27", "redis:7", "postgres:16-alpine", "registry.example.com/team/api:2.1", "busybox"];
const WORDS = ["web", "Web", "api", "db_main", "cache", "worker", "Zeta", "alpha.1", "queue-x", "web_api"];

let t: TestServer;
let member: TestUser;
let outsider: TestUser;
let admin: TestUser;
const seeds: Seed[] = [];
const hosts: Array<{ id: string; name: string }> = [];
let memberHostIds: string[] = [];

/** Deterministic pseudo-random numbers: the same rows on every run. */
function rng(seed: number) {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2147483648;
    return x / 2147483648;
  };
}

beforeAll(async () => {
  t = await startTestServer({ name: "fleetlist" });
  const db = t.server.db;
  const [teamA, teamB] = [await db.team.create({ data: { name: "fl-a" } }), await db.team.create({ data: { name: "fl-b" } })];
  const plan: Array<[string, string | null]> = [
    ["fl-alpha", teamA.id],
    ["fl-beta", teamA.id],
    ["fl-gamma", teamB.id],
    ["fl-delta", null],
  ];
  for (const [name, teamId] of plan) {
    const host = await db.host.create({ data: { name, ...(teamId ? { teams: { create: { teamId } } } : {}) }, select: { id: true, name: true } });
    hosts.push(host);
  }
  memberHostIds = hosts.slice(0, 2).map((h) => h.id);
  const random = rng(42);
  const pick = <T,>(list: readonly T[]) => list[Math.floor(random() * list.length)]!;
  for (const host of hosts) {
    for (let i = 0; i < 45; i++) {
      const ports: Seed["ports"] = random() < 0.4 ? [{ ip: "0.0.0.0", privatePort: 80, publicPort: 8000 + Math.floor(random() * 5), type: "tcp" }] : [{ privatePort: 6379, type: "tcp" }];
      seeds.push({
        hostId: host.id,
        hostName: host.name,
        dockerId: `${host.id}${i.toString(16).padStart(4, "0")}`.padEnd(64, "0"),
        name: `${pick(WORDS)}-${i}`,
        image: pick(IMAGES),
        state: pick(STATES),
        health: pick(HEALTH),
        // Few distinct times: ties must be broken by the keyset's tail.
        createdAt: new Date(Date.UTC(2026, 0, 1 + Math.floor(random() * 5))),
        labels: random() < 0.5 ? { app: pick(["shop", "blog"]), tier: pick(["front", "back"]) } : { "com.example.owner": "ops" },
        ports,
      });
    }
  }
  await db.container.createMany({
    data: seeds.map((s) => ({ hostId: s.hostId, dockerId: s.dockerId, name: s.name, image: s.image, imageId: "sha256:x", command: "", state: s.state, health: s.health, createdAt: s.createdAt, labels: s.labels, ports: s.ports })),
  });
  member = await createSignedInUser(t.server, { role: "user" });
  await db.teamMember.create({ data: { teamId: teamA.id, userId: member.id, roleId: "role_viewer" } });
  outsider = await createSignedInUser(t.server, { role: "user" });
  admin = await createSignedInUser(t.server, { role: "admin" });
});

afterAll(() => t?.stop());

type Filter = { name?: string; image?: string; states?: Array<"running" | "exited" | "paused" | "created" | "restarting" | "dead">; hostIds?: string[]; label?: string; port?: number; health?: "healthy" | "unhealthy" | "starting" | "none" };
type Sort = "name" | "state" | "created" | "host" | "image";

/** The oracle: what the documentation says the list answers, in plain JS. */
function expected(visible: string[] | null, filter: Filter, sort: Sort, dir: "asc" | "desc"): Seed[] {
  const has = (text: string, part: string) => text.toLowerCase().includes(part.toLowerCase());
  const rows = seeds.filter((s) => {
    if (visible && !visible.includes(s.hostId)) return false;
    if (filter.name && !has(s.name, filter.name)) return false;
    if (filter.image && !has(s.image, filter.image)) return false;
    if (filter.states && !(filter.states as string[]).includes(s.state)) return false;
    if (filter.hostIds && !filter.hostIds.includes(s.hostId)) return false;
    if (filter.label) {
      const [key, ...rest] = filter.label.split("=");
      if (!(key! in s.labels)) return false;
      if (rest.length && s.labels[key!] !== rest.join("=")) return false;
    }
    if (filter.port !== undefined && !s.ports.some((p) => p.publicPort === filter.port)) return false;
    if (filter.health === "none" && s.health !== null) return false;
    if (filter.health && filter.health !== "none" && s.health !== filter.health) return false;
    return true;
  });
  const key = (s: Seed): Array<string | number> => {
    switch (sort) {
      case "name":
        return [s.name, s.hostId, s.dockerId];
      case "state":
        return [s.state, s.name, s.hostId, s.dockerId];
      case "created":
        return [s.createdAt.getTime(), s.hostId, s.dockerId];
      case "image":
        return [s.image, s.name, s.hostId, s.dockerId];
      case "host":
        return [s.hostName, s.name, s.dockerId];
    }
  };
  const compare = (a: Seed, b: Seed) => {
    const [ka, kb] = [key(a), key(b)];
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1; // byte order for ASCII strings
    return 0;
  };
  rows.sort((a, b) => (dir === "asc" ? compare(a, b) : compare(b, a)));
  return rows;
}

/** Every page, following the cursor, as one list of "host/name". */
async function allPages(user: TestUser, filter: Filter, sort: Sort, dir: "asc" | "desc", limit: number) {
  const caller = await callerFor(t.server, user);
  const seen: string[] = [];
  let cursor: string | null = null;
  let total: number | null = null;
  for (let page = 0; page < 1000; page++) {
    const result = await caller.containers.fleet({ filter, sort, dir, limit, cursor });
    if (page === 0) total = result.total;
    else expect(result.total).toBeNull();
    expect(result.containers.length).toBeLessThanOrEqual(limit);
    seen.push(...result.containers.map((c) => `${c.hostName}/${c.name}/${c.dockerId.slice(-4)}`));
    if (!result.nextCursor) break;
    cursor = result.nextCursor;
  }
  return { seen, total };
}

const spell = (rows: Seed[]) => rows.map((s) => `${s.hostName}/${s.name}/${s.dockerId.slice(-4)}`);

describe("who sees what", () => {
  it("a team member sees only the containers of their team's hosts", async () => {
    const want = expected(memberHostIds, {}, "name", "asc");
    expect(want.length).toBe(90);
    const got = await allPages(member, {}, "name", "asc", 200);
    expect(got.seen).toEqual(spell(want));
    expect(got.total).toBe(90);
  });

  it("a global admin sees every host, one in no team included", async () => {
    const got = await allPages(admin, {}, "name", "asc", 200);
    expect(got.total).toBe(seeds.length);
    expect(got.seen).toEqual(spell(expected(null, {}, "name", "asc")));
  });

  it("a user in no team sees nothing", async () => {
    const result = await (await callerFor(t.server, outsider)).containers.fleet({});
    expect(result).toEqual({ containers: [], nextCursor: null, total: 0, totalCapped: false });
  });

  it("asking for a host one may not see adds nothing", async () => {
    const got = await allPages(member, { hostIds: [hosts[2]!.id, hosts[3]!.id] }, "name", "asc", 50);
    expect(got.seen).toEqual([]);
  });
});

describe("sort and keyset pages", () => {
  const sorts: Sort[] = ["name", "state", "created", "host", "image"];
  for (const sort of sorts) {
    for (const dir of ["asc", "desc"] as const) {
      it(`${sort} ${dir}: pages of 7 add up to the whole list, in order, without repeats`, async () => {
        const want = spell(expected(null, {}, sort, dir));
        const got = await allPages(admin, {}, sort, dir, 7);
        expect(got.seen).toEqual(want);
        expect(new Set(got.seen).size).toBe(got.seen.length);
      });
    }
  }
});

describe("server-side filters", () => {
  const cases: Array<[string, Filter]> = [
    ["name, any case", { name: "WEB" }],
    ["name with a LIKE wildcard character taken literally", { name: "_" }],
    ["image part", { image: "alpine" }],
    ["states", { states: ["paused", "restarting"] }],
    ["host", { hostIds: [] }],
    ["label key", { label: "com.example.owner" }],
    ["label key=value", { label: "tier=front" }],
    ["published port", { port: 8002 }],
    ["health", { health: "unhealthy" }],
    ["no healthcheck", { health: "none" }],
    ["combined", { name: "web", states: ["running", "exited"], label: "app=shop", health: "none" }],
  ];
  for (const [what, filter] of cases) {
    it(what, async () => {
      const f = what === "host" ? { hostIds: [hosts[1]!.id, hosts[3]!.id] } : filter;
      const want = spell(expected(null, f, "name", "asc"));
      expect(want.length, "the filter must select something (fixture check)").toBeGreaterThan(0);
      expect(want.length, "and not everything").toBeLessThan(seeds.length);
      const got = await allPages(admin, f, "name", "asc", 11);
      expect(got.seen).toEqual(want);
      expect(got.total).toBe(want.length);
    });
  }

  it("a member's filter stays inside their hosts", async () => {
    const f: Filter = { image: "redis", states: ["running", "exited", "dead"] };
    const want = spell(expected(memberHostIds, f, "created", "desc"));
    expect(want.length).toBeGreaterThan(0);
    expect((await allPages(member, f, "created", "desc", 4)).seen).toEqual(want);
  });
});

describe("bad input is a clear 400", () => {
  it("refuses malformed and foreign cursors, limits and filters", async () => {
    const caller = await callerFor(t.server, admin);
    const first = await caller.containers.fleet({ sort: "name", limit: 5 });
    expect(first.nextCursor).toBeTruthy();
    await expect(caller.containers.fleet({ sort: "state", limit: 5, cursor: first.nextCursor })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("another sort order") });
    await expect(caller.containers.fleet({ cursor: "not-a-cursor" })).rejects.toMatchObject({ code: "BAD_REQUEST", message: expect.stringContaining("cursor") });
    await expect(caller.containers.fleet({ limit: 0 })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.fleet({ limit: 201 })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.fleet({ filter: { port: 70_000 } })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.fleet({ filter: { label: "=x" } })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.fleet({ filter: { states: ["sleeping" as "running"] } })).rejects.toMatchObject({ code: "BAD_REQUEST" });
    await expect(caller.containers.fleet({ sort: "ports" as "name" })).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});

describe("the first page's count", () => {
  it("stops at 1,000 and says so; pages still reach every row", async () => {
    const db = t.server.db;
    const host = await db.host.create({ data: { name: "fl-epsilon" }, select: { id: true } });
    await db.container.createMany({
      data: Array.from({ length: 1000 }, (_, i) => ({
        hostId: host.id,
        dockerId: `${host.id}${i.toString(16).padStart(4, "0")}`.padEnd(64, "0"),
        name: `bulk-${String(i).padStart(4, "0")}`,
        image: "busybox",
        imageId: "sha256:x",
        command: "",
        state: "running",
        createdAt: new Date(Date.UTC(2026, 1, 1)),
        labels: {},
        ports: [],
      })),
    });
    const admin1 = await (await callerFor(t.server, admin)).containers.fleet({ limit: 10 });
    expect(admin1).toMatchObject({ total: 1000, totalCapped: true });
    // Exactly 1,000 matching: no "+".
    expect(await (await callerFor(t.server, admin)).containers.fleet({ filter: { name: "bulk-" }, limit: 10 })).toMatchObject({ total: 1000, totalCapped: false });
    const all = await allPages(admin, { hostIds: [host.id] }, "name", "desc", 200);
    expect(all.seen).toHaveLength(1000);
    expect(all.seen[0]).toMatch(/^fl-epsilon\/bulk-0999\//);
    // A member's view is unchanged by a host they cannot see.
    expect(await (await callerFor(t.server, member)).containers.fleet({ limit: 10 })).toMatchObject({ total: 90, totalCapped: false });
  });
});
