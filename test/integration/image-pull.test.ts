/**
 * Pulling images through Berth with live progress, on real parts: a real
 * registry (Debian's docker-registry, open and with htpasswd), a second real
 * dockerd that has none of the layers (so every layer is really downloaded
 * and extracted), its real agent, and a browser socket client. Docker's CLI
 * is the oracle for what the pull produced.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TImagePullProgress } from "../../agent/protocol.ts";
import { ClientEvent, ServerEvent, type TImagePullEnd, type TImagePullProgressFrame, type TImagePullStarted } from "../../server/gateway/browser-protocol.ts";
import { createHost } from "../../server/services/hosts.ts";
import { createRegistry } from "../../server/services/registries.ts";
import {
  connectBrowserSocket,
  createSignedInUser,
  emitWithAck,
  startTestAgent,
  startTestServer,
  waitFor,
  waitForSnapshot,
  type BrowserTestSocket,
  type TestAgent,
  type TestServer,
  type TestUser,
} from "../infra/berth.ts";
import { dockerCli, LAYERED_TEST_IMAGE, startExtraDockerHost, type ExtraDockerHost } from "../infra/docker.ts";
import { startTestRegistry, type TestRegistry } from "../infra/registry.ts";

const suffix = Math.random().toString(36).slice(2, 8);
let t: TestServer;
let agent: TestAgent;
let clean: ExtraDockerHost;
let open: TestRegistry;
let locked: TestRegistry;
let hostId = "";
let teamId = "";
const users = {} as Record<"operator" | "viewer", TestUser>;
const sockets: BrowserTestSocket[] = [];
let openDigest = "";
let lockedDigest = "";

type Pull = { started: TImagePullStarted; frames: TImagePullProgress[]; end: TImagePullEnd | null };

async function pull(user: TestUser, reference: string): Promise<Pull> {
  const socket = await connectBrowserSocket(t.url, { cookie: user.cookie });
  sockets.push(socket);
  const result: Pull = { started: { pullId: "", reference: "" }, frames: [], end: null };
  const early: TImagePullProgressFrame[] = [];
  const earlyEnds: TImagePullEnd[] = [];
  socket.on(ServerEvent.imagePullProgress, (frame: TImagePullProgressFrame) => {
    if (!result.started.pullId) return void early.push(frame);
    if (frame.pullId !== result.started.pullId) return;
    result.frames.push(frame.progress);
    socket.emit(ClientEvent.imagePullAck, { pullId: frame.pullId, seq: frame.seq });
  });
  socket.on(ServerEvent.imagePullEnd, (end: TImagePullEnd) => {
    if (!result.started.pullId) return void earlyEnds.push(end);
    if (end.pullId === result.started.pullId) result.end = end;
  });
  const ack = await emitWithAck<TImagePullStarted>(socket, ClientEvent.imagePull, { hostId, reference });
  if (!ack.ok) throw Object.assign(new Error(ack.message), { code: ack.code });
  result.started = { pullId: ack.pullId, reference: ack.reference };
  for (const frame of early) if (frame.pullId === ack.pullId) result.frames.push(frame.progress);
  for (const end of earlyEnds) if (end.pullId === ack.pullId) result.end = end;
  await waitFor(() => result.end, { what: `the end of the pull of ${reference}`, timeoutMs: 60_000 });
  return result;
}

/** An image with a layer of its own (20 MB of random bytes) that no daemon has yet: its pull really downloads. */
const SOURCE = `berth-test/pull-source-${suffix}:latest`;

beforeAll(async () => {
  const build = promisify(execFile)("docker", ["build", "-q", "-t", SOURCE, "-"], { timeout: 120_000 });
  build.child.stdin!.end(`FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 20000000 /dev/urandom > /blob.bin\n`);
  await build;
  [open, locked, clean] = await Promise.all([startTestRegistry({ auth: "none" }), startTestRegistry({ auth: "htpasswd" }), startExtraDockerHost(`pull${suffix.slice(0, 4)}`)]);
  await Promise.all([open.exposeTo(clean), locked.exposeTo(clean)]);
  openDigest = await open.push(SOURCE, `berth/layered-${suffix}:1`);
  lockedDigest = await locked.push(LAYERED_TEST_IMAGE, `private/layered-${suffix}:1`);
  t = await startTestServer({ name: "image_pull" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "pull-team" } });
  teamId = team.id;
  users.operator = await createSignedInUser(t.server, { email: "operator@pull.test" });
  users.viewer = await createSignedInUser(t.server, { email: "viewer@pull.test" });
  await db.teamMember.createMany({
    data: [
      { teamId, userId: users.operator.id, roleId: "role_operator" },
      { teamId, userId: users.viewer.id, roleId: "role_viewer" },
    ],
  });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "clean-host", teamIds: [teamId], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost: clean.dockerHost });
  await waitForSnapshot(t.server, hostId);
}, 240_000);

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await t?.stop();
  await Promise.all([open?.stop(), locked?.stop(), clean?.stop()]);
  await dockerCli(["image", "rm", "--force", SOURCE]).catch(() => undefined);
});

describe("image pull", () => {
  it("pulls from a registry with per-layer progress in Docker's order, ending with the image docker inspect shows", async () => {
    const reference = `${open.host}/berth/layered-${suffix}:1`;
    const result = await pull(users.operator, reference);
    expect(result.end).toMatchObject({ error: null, digest: openDigest });
    expect(result.started.reference).toBe(reference);
    const imageId = await dockerCli(["image", "inspect", "--format", "{{.Id}}", reference], { host: clean.dockerHost });
    expect(result.end!.imageId).toBe(imageId);
    expect(result.frames.at(-1)!.done).toEqual({ imageId, digest: openDigest });

    // The clean host had the base layers (Docker says "Already exists"); the new one went through every stage, in order.
    const layers = JSON.parse(await dockerCli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", reference], { host: clean.dockerHost })) as string[];
    const history = new Map<string, string[]>();
    for (const frame of result.frames) for (const layer of frame.layers) history.set(layer.id, [...(history.get(layer.id) ?? []), layer.status]);
    expect(history.size).toBe(layers.length);
    const stages = ["Pulling fs layer", "Waiting", "Downloading", "Verifying Checksum", "Download complete", "Extracting", "Pull complete"];
    const pulled = [...history].filter(([, statuses]) => statuses.at(-1) !== "Already exists");
    expect(pulled.length, "at least the source's own layer really downloaded").toBeGreaterThanOrEqual(1);
    for (const statuses of history.values()) expect(["Pull complete", "Already exists"]).toContain(statuses.at(-1));
    for (const [id, statuses] of pulled) {
      const order = statuses.map((status) => stages.indexOf(status));
      expect(order.every((s) => s >= 0), `known stages for ${id}: ${statuses.join(" → ")}`).toBe(true);
      expect(order, `stages in order for ${id}`).toEqual([...order].sort((a, b) => a - b));
      expect(statuses.at(-1)).toBe("Pull complete");
    }
    // Byte progress: the 20 MB layer reported its size while it downloaded (smaller ones may finish between two frames).
    const downloading = result.frames.flatMap((f) => f.layers).filter((l) => l.status === "Downloading");
    expect(downloading.some((l) => (l.total ?? 0) > 1_000_000 && (l.current ?? 0) > 0)).toBe(true);
    expect(result.frames.flatMap((f) => f.messages).some((m) => m.startsWith("Status: Downloaded newer image"))).toBe(true);

    const audit = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.pull", actorId: users.operator.id }, orderBy: { seq: "desc" }, select: { outcome: true, target: true, params: true } });
    expect(audit).toMatchObject({ outcome: "SUCCESS", target: `imageId:${imageId}`, params: { reference, authenticatedAs: null, digest: openDigest } });
  });

  it("uses the credentials of a registry the caller's team may use, and says clearly when there are none", async () => {
    const reference = `${locked.host}/private/layered-${suffix}:1`;
    // Docker refuses before any progress: the answer to image:pull says why.
    const message = await pull(users.operator, reference).then(
      (r) => r.end?.error ?? "pulled",
      (error: Error) => error.message,
    );
    expect(message).toMatch(/no basic auth credentials|unauthorized|authentication required/i);
    const failed = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.pull", outcome: "FAILURE" }, orderBy: { seq: "desc" }, select: { error: true } });
    expect(failed.error).toBe(message);

    await createRegistry({
      db: t.server.db,
      secrets: t.server.deps.secrets,
      teamId,
      fields: { name: `locked-${suffix}`, url: locked.url, username: locked.credentials!.username, password: locked.credentials!.password },
    });
    const pulled = await pull(users.operator, reference);
    expect(pulled.end).toMatchObject({ error: null, digest: lockedDigest });
    const row = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.pull", outcome: "SUCCESS" }, orderBy: { seq: "desc" }, select: { params: true } });
    expect(row.params).toMatchObject({ authenticatedAs: `${locked.credentials!.username}@${locked.host}` });
    expect(JSON.stringify(row.params)).not.toContain(locked.credentials!.password);
  });

  it("refuses a viewer, and a reference Docker's rules refuse, with a clear message", async () => {
    const socket = await connectBrowserSocket(t.url, { cookie: users.viewer.cookie });
    sockets.push(socket);
    expect(await emitWithAck(socket, ClientEvent.imagePull, { hostId, reference: "busybox" })).toMatchObject({ ok: false, code: "FORBIDDEN" });
    const operator = await connectBrowserSocket(t.url, { cookie: users.operator.cookie });
    sockets.push(operator);
    const bad = await emitWithAck(operator, ClientEvent.imagePull, { hostId, reference: "Busybox:latest" });
    expect(bad).toMatchObject({ ok: false, code: "BAD_REQUEST" });
    expect(bad.ok ? "" : bad.message).toMatch(/^Invalid image reference "Busybox:latest": /);
  });
});
