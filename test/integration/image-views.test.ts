/**
 * Images per host and across the fleet, disk usage, and update detection, on
 * real parts: two extra real dockerds (their own namespaces, so nothing else
 * runs there), their real agents, real registries (Debian's docker-registry,
 * one open and one with htpasswd) and a real Postgres. Docker's CLI is the
 * oracle: image ids from `docker image inspect`, disk usage from
 * `docker system df --format '{{json .}}'`, digests from `docker push`.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { checkImageUpdates, claimScheduledRun, ImageUpdateScheduler } from "../../server/services/image-updates.ts";
import { createRegistry, updateRegistry } from "../../server/services/registries.ts";
import { callerFor, createSignedInUser, startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer, type TestUser } from "../infra/berth.ts";
import { dockerCli, startExtraDockerHost, TEST_IMAGE, type ExtraDockerHost } from "../infra/docker.ts";
import { startTestRegistry, type TestRegistry } from "../infra/registry.ts";

const suffix = Math.random().toString(36).slice(2, 8);
const V1 = `berth-test/views-v1-${suffix}:latest`;
const V2 = `berth-test/views-v2-${suffix}:latest`;
const OPEN_REPO = `views-${suffix}/app`;
const LOCKED_REPO = `private-${suffix}/app`;

let t: TestServer;
let h1: ExtraDockerHost;
let h2: ExtraDockerHost;
let open: TestRegistry;
let locked: TestRegistry;
const agents: TestAgent[] = [];
let viewer: TestUser;
let outsider: TestUser;
let teamId = "";
const hostIds = { h1: "", h2: "" };
let v1Digest = "";

async function build(tag: string, dockerfile: string, host?: string): Promise<void> {
  await dockerCli(["build", "-q", "-t", tag, "-"], { input: dockerfile, host });
}

/** Docker's units.HumanSize (decimal, 4 significant digits), as `docker system df` prints sizes. */
function humanSize(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB", "PB"];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

beforeAll(async () => {
  await build(V1, `FROM ${TEST_IMAGE}\nRUN echo v1-${suffix} > /version\n`);
  await build(V2, `FROM ${TEST_IMAGE}\nRUN echo v2-${suffix} > /version\n`);
  [open, locked, h1, h2] = await Promise.all([
    startTestRegistry({ auth: "none" }),
    startTestRegistry({ auth: "htpasswd" }),
    startExtraDockerHost(`views1${suffix.slice(0, 3)}`),
    startExtraDockerHost(`views2${suffix.slice(0, 3)}`),
  ]);
  await Promise.all([open.exposeTo(h1), locked.exposeTo(h1)]);
  v1Digest = await open.push(V1, `${OPEN_REPO}:1`);
  await locked.push(V1, `${LOCKED_REPO}:1`);
  // h1 pulls both through the registries (Docker records their RepoDigests).
  await open.docker(["pull", `${open.host}/${OPEN_REPO}:1`], { host: h1.dockerHost });
  await locked.docker(["pull", `${locked.host}/${LOCKED_REPO}:1`], { host: h1.dockerHost });
  // h1: a running container and a stopped one with a writable layer, a volume with data in use and one unused.
  await dockerCli(["volume", "create", `views-data-${suffix}`], { host: h1.dockerHost });
  await dockerCli(["volume", "create", `views-idle-${suffix}`], { host: h1.dockerHost });
  await dockerCli(["run", "--rm", "-v", `views-idle-${suffix}:/d`, TEST_IMAGE, "sh", "-c", "head -c 300000 /dev/zero > /d/f"], { host: h1.dockerHost });
  await dockerCli(["run", "-d", "--init", "--name", `views-run-${suffix}`, "-v", `views-data-${suffix}:/d`, TEST_IMAGE, "sh", "-c", "head -c 200000 /dev/zero > /d/f; sleep 3600"], {
    host: h1.dockerHost,
  });
  await dockerCli(["run", "--name", `views-stopped-${suffix}`, TEST_IMAGE, "sh", "-c", "head -c 500000 /dev/zero > /blob"], { host: h1.dockerHost });
  // h2: a dangling image (built under a tag, then the tag moved to another build).
  await build(`views-moving-${suffix}:1`, `FROM ${TEST_IMAGE}\nLABEL build=one\n`, h2.dockerHost);
  await build(`views-moving-${suffix}:1`, `FROM ${TEST_IMAGE}\nLABEL build=two\n`, h2.dockerHost);

  t = await startTestServer({ name: "image_views" });
  const db = t.server.db;
  teamId = (await db.team.create({ data: { name: "views-team" } })).id;
  viewer = await createSignedInUser(t.server, { email: "viewer@views.test" });
  outsider = await createSignedInUser(t.server, { email: "outsider@views.test" });
  await db.teamMember.create({ data: { teamId, userId: viewer.id, roleId: "role_viewer" } });
  for (const [key, host] of [["h1", h1], ["h2", h2]] as const) {
    const join = await createHost({ db, bus: t.server.deps.bus, name: key, teamIds: [teamId], ttlMinutes: 5, serverUrl: t.url });
    hostIds[key] = join.hostId;
    agents.push(await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost: host.dockerHost }));
  }
  await Promise.all(Object.values(hostIds).map((id) => waitForSnapshot(t.server, id)));
}, 300_000);

afterAll(async () => {
  await Promise.all(agents.map((a) => a.kill()));
  await t?.stop();
  await Promise.all([open?.stop(), locked?.stop(), h1?.stop(), h2?.stop()]);
  await dockerCli(["image", "rm", "--force", V1, V2]).catch(() => undefined);
});

describe("images across the fleet", () => {
  it("groups the same image id on two hosts into one row, with the containers using it on each", async () => {
    const id1 = await dockerCli(["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE], { host: h1.dockerHost });
    const id2 = await dockerCli(["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE], { host: h2.dockerHost });
    expect(id1).toBe(id2);
    const runId = await dockerCli(["inspect", "--format", "{{.Id}}", `views-run-${suffix}`], { host: h1.dockerHost });
    const caller = await callerFor(t.server, viewer);
    const { images } = await caller.images.fleet({});
    const rows = images.filter((i) => i.imageId === id1);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row.hosts.map((h) => h.hostName)).toEqual(["h1", "h2"]);
    expect(row.repoTags).toContain(TEST_IMAGE);
    expect(row.containers.map((c) => c.name).sort()).toEqual([`views-run-${suffix}`, `views-stopped-${suffix}`].sort());
    expect(row.containers.find((c) => c.name === `views-run-${suffix}`)).toMatchObject({ hostId: hostIds.h1, dockerId: runId, hostName: "h1" });
    expect(row.hosts.find((h) => h.hostName === "h2")!.containers).toBe(0);
  });

  it("filters unused and dangling images as Docker defines them", async () => {
    const caller = await callerFor(t.server, viewer);
    // Docker's own answers: images no container uses (h1 and h2), untagged images (h2).
    const dockerDangling = (await dockerCli(["images", "--filter", "dangling=true", "--no-trunc", "--format", "{{.ID}}"], { host: h2.dockerHost })).split("\n").filter(Boolean);
    expect(dockerDangling).toHaveLength(1);
    const dangling = await caller.images.fleet({ dangling: true });
    expect(dangling.images.map((i) => i.imageId)).toEqual(dockerDangling);
    expect(dangling.images[0]!.repoTags).toEqual([]);

    const unused = await caller.images.fleet({ unused: true });
    expect(unused.images.length).toBeGreaterThan(0);
    const usedIds = new Set<string>();
    for (const host of [h1, h2]) {
      const ids = (await dockerCli(["ps", "-a", "--no-trunc", "--format", "{{.ID}}"], { host: host.dockerHost })).split("\n").filter(Boolean);
      for (const id of ids) usedIds.add(await dockerCli(["inspect", "--format", "{{.Image}}", id], { host: host.dockerHost }));
    }
    const allIds = new Set<string>();
    for (const host of [h1, h2]) for (const id of (await dockerCli(["images", "-q", "--no-trunc"], { host: host.dockerHost })).split("\n").filter(Boolean)) allIds.add(id);
    expect(unused.images.map((i) => i.imageId).sort()).toEqual([...allIds].filter((id) => !usedIds.has(id)).sort());
    expect(unused.images.every((i) => i.containerCount === 0)).toBe(true);
  });

  it("shows a member of another team nothing, and narrows to one host on request", async () => {
    expect((await (await callerFor(t.server, outsider)).images.fleet({})).images).toEqual([]);
    const caller = await callerFor(t.server, viewer);
    const onlyH2 = await caller.images.fleet({ hostIds: [hostIds.h2] });
    expect(onlyH2.images.length).toBeGreaterThan(0);
    expect(onlyH2.images.every((i) => i.hosts.length === 1 && i.hosts[0]!.hostId === hostIds.h2)).toBe(true);
  });

  it("lists a host's images with the containers using each and their digests", async () => {
    const caller = await callerFor(t.server, viewer);
    const images = await caller.images.list({ hostId: hostIds.h1 });
    const base = images.find((i) => i.repoTags.includes(TEST_IMAGE))!;
    expect(base.usedBy.map((c) => c.name).sort()).toEqual([`views-run-${suffix}`, `views-stopped-${suffix}`].sort());
    expect(base.containers).toBe(2);
    const pulled = images.find((i) => i.repoTags.includes(`${open.host}/${OPEN_REPO}:1`))!;
    const dockerDigests = JSON.parse(await dockerCli(["image", "inspect", "--format", "{{json .RepoDigests}}", `${open.host}/${OPEN_REPO}:1`], { host: h1.dockerHost })) as string[];
    expect(pulled.repoDigests.sort()).toEqual(dockerDigests.sort());
    expect(pulled.repoDigests).toContain(`${open.host}/${OPEN_REPO}@${v1Digest}`);
    expect(pulled.usedBy).toEqual([]);
  });
});

describe("disk usage", () => {
  it("answers what docker system df answers", async () => {
    const caller = await callerFor(t.server, viewer);
    const df = await caller.hosts.diskUsage({ hostId: hostIds.h1 });
    const cli = (await dockerCli(["system", "df", "--format", "{{json .}}"], { host: h1.dockerHost }))
      .split("\n")
      .map((line) => JSON.parse(line) as { Type: string; TotalCount: string; Active: string; Size: string; Reclaimable: string });
    const byType = new Map(cli.map((row) => [row.Type, row]));
    const rows = { images: "Images", containers: "Containers", volumes: "Local Volumes", buildCache: "Build Cache" } as const;
    expect([...byType.keys()].sort()).toEqual(Object.values(rows).sort());
    for (const [key, type] of Object.entries(rows) as Array<[keyof typeof rows, string]>) {
      const ours = df[key];
      const theirs = byType.get(type)!;
      expect({ type, count: String(ours.count), active: String(ours.active), size: humanSize(ours.sizeBytes) }).toEqual({
        type,
        count: theirs.TotalCount,
        active: theirs.Active,
        size: theirs.Size,
      });
      // The CLI prints "1.2MB (40%)" (no percentage for an empty kind).
      expect(theirs.Reclaimable.split(" ")[0]).toBe(humanSize(ours.reclaimableBytes));
    }
    // The arrangement is seen: two containers (one stopped with a 500 kB layer), two volumes (one unused).
    expect(df.containers).toMatchObject({ count: 2, active: 1 });
    expect(df.containers.reclaimableBytes).toBeGreaterThanOrEqual(500_000);
    expect(df.volumes).toMatchObject({ count: 2, active: 1 });
    expect(df.volumes.reclaimableBytes).toBeGreaterThanOrEqual(300_000);
  });
});

describe("update detection", () => {
  const openRef = () => `${open.host}/${OPEN_REPO}:1`;
  const lockedRef = () => `${locked.host}/${LOCKED_REPO}:1`;

  it("finds a pulled tag up to date, and a registry needing credentials says so", async () => {
    const caller = await callerFor(t.server, viewer);
    const result = await caller.images.checkUpdates({ hostId: hostIds.h1 });
    const byRef = new Map(result.results.map((r) => [r.reference, r]));
    expect(byRef.get(openRef())).toMatchObject({ status: "current", localDigest: v1Digest, remoteDigest: v1Digest, error: null });
    // No stored registry for the locked one: asked anonymously, it refuses.
    expect(byRef.get(lockedRef())).toMatchObject({ status: "error", remoteDigest: null });
    expect(byRef.get(lockedRef())!.error).toMatch(/needs credentials/);
    // Images built locally (no RepoDigest) are not checked.
    expect(result.results.map((r) => r.reference).sort()).toEqual([openRef(), lockedRef()].sort());
    const audit = await t.server.db.auditEvent.findFirst({ where: { action: "images.checkUpdates" }, select: { outcome: true, hostId: true } });
    expect(audit).toEqual({ outcome: "SUCCESS", hostId: hostIds.h1 });
  });

  it("joins a check of the same host that is already running instead of asking the registries again", async () => {
    const caller = await callerFor(t.server, viewer);
    const other = await callerFor(t.server, viewer);
    // Two pages asking at once: one run, so both get the very same result (the same stamp object per tag).
    const [first, second] = await Promise.all([caller.images.checkUpdates({ hostId: hostIds.h1 }), other.images.checkUpdates({ hostId: hostIds.h1 })]);
    expect(first.results.length).toBeGreaterThan(0);
    expect(second.results.map((r) => r.checkedAt)).toEqual(first.results.map((r) => r.checkedAt));
    second.results.forEach((r, i) => expect(r.checkedAt).toBe(first.results[i]!.checkedAt));
    // Once it is over, the next ask is a new run.
    const later = await caller.images.checkUpdates({ hostId: hostIds.h1 });
    expect(later.results[0]!.checkedAt).not.toBe(first.results[0]!.checkedAt);
  });

  it("reports wrong credentials as a clear error, then checks with the right ones", async () => {
    const secrets = t.server.deps.secrets;
    const registry = await createRegistry({
      db: t.server.db,
      secrets,
      teamId,
      fields: { name: `locked-${suffix}`, url: locked.url, username: locked.credentials!.username, password: "not-the-password" },
    });
    const caller = await callerFor(t.server, viewer);
    const images = await caller.images.list({ hostId: hostIds.h1 });
    const lockedImage = images.find((i) => i.repoTags.includes(lockedRef()))!;
    // One image, pulled from both registries: a check of the image checks both of its tags.
    expect(lockedImage.repoTags.sort()).toEqual([openRef(), lockedRef()].sort());
    const wrong = await caller.images.checkUpdates({ hostId: hostIds.h1, imageId: lockedImage.dockerId });
    expect(wrong.results.map((r) => [r.reference, r.status]).sort()).toEqual([[lockedRef(), "error"], [openRef(), "current"]].sort());
    expect(wrong.results.find((r) => r.reference === lockedRef())!.error).toMatch(/refused the credentials: wrong username or password/);
    // The stored state the tables show says the same.
    const shown = (await caller.images.list({ hostId: hostIds.h1 })).find((i) => i.dockerId === lockedImage.dockerId)!;
    expect(shown.updates.find((u) => u.reference === lockedRef())).toMatchObject({ status: "error", error: expect.stringMatching(/wrong username or password/) });

    await updateRegistry({ db: t.server.db, secrets, registryId: registry.id, fields: { password: locked.credentials!.password } });
    const right = await caller.images.checkUpdates({ hostId: hostIds.h1, imageId: lockedImage.dockerId });
    expect(right.results.find((r) => r.reference === lockedRef())).toMatchObject({ status: "current", error: null });
  });

  it("sees an update after a new image is pushed under the same tag", async () => {
    const v2Digest = await open.push(V2, `${OPEN_REPO}:1`);
    expect(v2Digest).not.toBe(v1Digest);
    const caller = await callerFor(t.server, viewer);
    const result = await caller.images.checkUpdates({ hostId: hostIds.h1 });
    expect(result.results.find((r) => r.reference === openRef())).toMatchObject({ status: "outdated", localDigest: v1Digest, remoteDigest: v2Digest });
    expect(result.outdated).toBe(1);
    const pulled = (await caller.images.list({ hostId: hostIds.h1 })).find((i) => i.repoTags.includes(openRef()))!;
    expect(pulled.updates.map((u) => [u.reference, u.status, u.remoteDigest]).sort()).toEqual([[openRef(), "outdated", v2Digest], [lockedRef(), "current", v1Digest]].sort());
    const fleet = await caller.images.fleet({ updates: true });
    expect(fleet.images.map((i) => i.imageId)).toEqual([pulled.dockerId]);
    expect(fleet.images[0]!.hosts).toMatchObject([{ hostId: hostIds.h1, update: "outdated" }]);

    // Pulling the new image makes the old check stale: the tag now names another image.
    await open.docker(["pull", openRef()], { host: h1.dockerHost });
    await waitFor(
      async () => (await caller.images.list({ hostId: hostIds.h1 })).find((i) => i.repoTags.includes(openRef()) && i.repoDigests.some((d) => d.endsWith(v2Digest))),
      { what: "the new pull in the inventory" },
    );
    const after = (await caller.images.list({ hostId: hostIds.h1 })).find((i) => i.repoTags.includes(openRef()))!;
    expect(after.dockerId).not.toBe(pulled.dockerId);
    expect(after.updates).toEqual([]);
    // The old image keeps its other tag and that tag's check.
    const old = (await caller.images.list({ hostId: hostIds.h1 })).find((i) => i.dockerId === pulled.dockerId)!;
    expect(old.updates.map((u) => u.reference)).toEqual([lockedRef()]);
    const again = await caller.images.checkUpdates({ hostId: hostIds.h1 });
    expect(again.results.find((r) => r.reference === openRef())).toMatchObject({ status: "current", localDigest: v2Digest });
  });

  it("records a registry that does not answer as unreachable", async () => {
    // A tag whose registry is gone (a stopped registry, like Docker Hub from this offline machine).
    const gone = await startTestRegistry({ auth: "none" });
    await gone.exposeTo(h2);
    await gone.push(V1, "gone/app:1");
    await gone.docker(["pull", `${gone.host}/gone/app:1`], { host: h2.dockerHost });
    await gone.docker(["tag", `${gone.host}/gone/app:1`, `${gone.host}/gone/other:2`], { host: h2.dockerHost });
    await gone.stop();
    const caller = await callerFor(t.server, viewer);
    await waitFor(async () => (await caller.images.list({ hostId: hostIds.h2 })).find((i) => i.repoTags.includes(`${gone.host}/gone/app:1`)), { what: "the pulled image on h2" });
    const result = await caller.images.checkUpdates({ hostId: hostIds.h2 });
    const mine = result.results.filter((r) => r.reference.startsWith(gone.host));
    // The second tag has no RepoDigest of its own repository (it was tagged, not pulled): only the first is checked.
    expect(mine.map((r) => [r.reference, r.status])).toEqual([[`${gone.host}/gone/app:1`, "unreachable"]]);
    expect(mine[0]!.error).toMatch(/Could not reach the registry/);
  });

  it("runs the scheduled check on one replica per period", async () => {
    const db = t.server.db;
    const name = `test-claim-${suffix}`;
    // Two replicas claiming the same period at once: exactly one wins.
    const claims = await Promise.all([claimScheduledRun(db, name, 3_600_000), claimScheduledRun(db, name, 3_600_000)]);
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await claimScheduledRun(db, name, 3_600_000)).toBe(false);

    await db.imageUpdateCheck.deleteMany({ where: { hostId: hostIds.h1 } });
    await db.scheduledJob.deleteMany({});
    const replicas = [0, 1].map(() => new ImageUpdateScheduler({ db, secrets: t.server.deps.secrets, intervalMinutes: 60 }));
    const ran = await Promise.all(replicas.map((r) => r.tick()));
    expect(ran.filter(Boolean)).toHaveLength(1);
    await Promise.all(replicas.map((r) => r.stop()));
    const stored = await db.imageUpdateCheck.findMany({ where: { hostId: hostIds.h1 }, select: { reference: true, status: true }, orderBy: { reference: "asc" } });
    expect(stored).toEqual(
      [
        { reference: openRef(), status: "current" },
        { reference: lockedRef(), status: "current" },
      ].sort((a, b) => a.reference.localeCompare(b.reference)),
    );
  });
  it("one run over several hosts checks each with its own teams' registries only", async () => {
    const db = t.server.db;
    // h2 moves to a team without the locked registry, and pulls the same image from it (credentials given to the CLI, not to Berth).
    const otherTeam = await db.team.create({ data: { name: `views-other-${suffix}` } });
    await db.hostTeam.deleteMany({ where: { hostId: hostIds.h2 } });
    await db.hostTeam.create({ data: { hostId: hostIds.h2, teamId: otherTeam.id } });
    await locked.exposeTo(h2);
    await locked.docker(["pull", lockedRef()], { host: h2.dockerHost });
    await waitFor(() => db.image.findFirst({ where: { hostId: hostIds.h2, repoTags: { has: lockedRef() } }, select: { dockerId: true } }), { what: "the locked image on h2" });
    // One memo for both hosts, as a scheduled run has: h1 (whose team stores the credentials) goes first.
    const memo = { targets: new Map(), unreachable: new Map() };
    const first = await checkImageUpdates({ db, secrets: t.server.deps.secrets, hostId: hostIds.h1, memo });
    expect(first.results.find((r) => r.reference === lockedRef())).toMatchObject({ status: "current" });
    const second = await checkImageUpdates({ db, secrets: t.server.deps.secrets, hostId: hostIds.h2, memo });
    expect(second.results.find((r) => r.reference === lockedRef())).toMatchObject({ status: "error", error: expect.stringMatching(/needs credentials/) });
  });
});
