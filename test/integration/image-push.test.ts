/**
 * Pushing, tagging, untagging, removing and pruning images through Berth, on
 * real parts: Debian's docker-registry (open and with htpasswd), two extra
 * real dockerds (the agent's host, whose images these tests may prune, and a
 * clean one that pulls what was pushed) and a browser socket client. Docker's
 * CLI is the oracle for what each action did, and Docker's own prune API for
 * which images a dangling prune takes and the space it frees.
 */
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TImagePullProgress } from "../../agent/protocol.ts";
import { ClientEvent, ServerEvent, type TImagePushEnd, type TImagePushProgressFrame, type TImagePushStarted } from "../../server/gateway/browser-protocol.ts";
import { createHost } from "../../server/services/hosts.ts";
import { createRegistry, updateRegistry } from "../../server/services/registries.ts";
import {
  callerFor,
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
let source: ExtraDockerHost;
let clean: ExtraDockerHost;
let open: TestRegistry;
let locked: TestRegistry;
let hostId = "";
let teamId = "";
const users = {} as Record<"operator" | "viewer", TestUser>;
const sockets: BrowserTestSocket[] = [];

/** An image of the agent's host with a layer no registry has yet (5 MB of random bytes), so a push really uploads. */
const SOURCE = `berth-test/push-source-${suffix}:1`;
let sourceId = "";

type Push = { started: TImagePushStarted; frames: TImagePushProgressFrame[]; end: TImagePushEnd | null };

async function push(user: TestUser, imageId: string, reference: string): Promise<Push> {
  const socket = await connectBrowserSocket(t.url, { cookie: user.cookie });
  sockets.push(socket);
  const result: Push = { started: { pushId: "", reference: "" }, frames: [], end: null };
  const frames: TImagePushProgressFrame[] = [];
  const ends: TImagePushEnd[] = [];
  socket.on(ServerEvent.imagePushProgress, (frame: TImagePushProgressFrame) => {
    frames.push(frame);
    socket.emit(ClientEvent.imagePushAck, { pushId: frame.pushId, seq: frame.seq });
  });
  socket.on(ServerEvent.imagePushEnd, (end: TImagePushEnd) => ends.push(end));
  const ack = await emitWithAck<TImagePushStarted>(socket, ClientEvent.imagePush, { hostId, imageId, reference });
  if (!ack.ok) throw Object.assign(new Error(ack.message), { code: ack.code });
  result.started = { pushId: ack.pushId, reference: ack.reference };
  result.end = await waitFor(() => ends.find((e) => e.pushId === ack.pushId) ?? null, { what: `the end of the push of ${reference}`, timeoutMs: 90_000 });
  result.frames = frames.filter((f) => f.pushId === ack.pushId);
  return result;
}

const onSource = (args: string[], input?: string) => dockerCli(args, { host: source.dockerHost, input, timeoutMs: 120_000 });
const build = (tag: string, dockerfile: string) => onSource(["build", "-q", "-t", tag, "-"], dockerfile);
const idOf = (ref: string, host = source.dockerHost) => dockerCli(["image", "inspect", "--format", "{{.Id}}", ref], { host });
const exists = (ref: string) => idOf(ref).then(() => true, () => false);
/** Every image id on the agent's host, intermediate ones included, as `docker images -a` lists them. */
const allImageIds = async () => new Set((await onSource(["images", "-a", "-q", "--no-trunc"])).split("\n").filter(Boolean));

/** Docker's own prune (POST /images/prune) on the agent's host: the oracle for a dangling prune. */
function dockerPrune(filters: Record<string, string[]>): Promise<{ ImagesDeleted: Array<{ Deleted?: string; Untagged?: string }> | null; SpaceReclaimed: number }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: source.socketPath, method: "POST", path: `/images/prune?filters=${encodeURIComponent(JSON.stringify(filters))}` }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`prune answered ${res.statusCode}: ${body}`))));
    });
    req.on("error", reject);
    req.end();
  });
}

/** Builds `tag` three times with different content: the first two builds become dangling (with their intermediate steps). */
async function makeDangling(tag: string): Promise<string[]> {
  const ids: string[] = [];
  for (const n of [1, 2, 3]) {
    await build(tag, `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c ${100_000 * n} /dev/urandom > /a\nENV ROUND=${n}\nRUN echo ${tag}-${n} > /b\n`);
    ids.push(await idOf(tag));
  }
  return ids.slice(0, 2);
}

beforeAll(async () => {
  [open, locked, source, clean] = await Promise.all([
    startTestRegistry({ auth: "none" }),
    startTestRegistry({ auth: "htpasswd" }),
    startExtraDockerHost(`pushs${suffix.slice(0, 4)}`),
    startExtraDockerHost(`pushc${suffix.slice(0, 4)}`),
  ]);
  await Promise.all([open.exposeTo(source), locked.exposeTo(source), open.exposeTo(clean), locked.exposeTo(clean)]);
  await build(SOURCE, `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 5000000 /dev/urandom > /blob.bin\n`);
  sourceId = await idOf(SOURCE);
  t = await startTestServer({ name: "image_push" });
  const db = t.server.db;
  teamId = (await db.team.create({ data: { name: "push-team" } })).id;
  users.operator = await createSignedInUser(t.server, { email: "operator@push.test" });
  users.viewer = await createSignedInUser(t.server, { email: "viewer@push.test" });
  await db.teamMember.createMany({
    data: [
      { teamId, userId: users.operator.id, roleId: "role_operator" },
      { teamId, userId: users.viewer.id, roleId: "role_viewer" },
    ],
  });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "push-host", teamIds: [teamId], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token, dockerHost: source.dockerHost });
  await waitForSnapshot(t.server, hostId);
  await waitFor(() => db.image.findUnique({ where: { hostId_dockerId: { hostId, dockerId: sourceId } }, select: { dockerId: true } }), { what: "the source image in Berth" });
}, 300_000);

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await t?.stop();
  await Promise.all([open?.stop(), locked?.stop(), source?.stop(), clean?.stop()]);
});

/** Docker's push stages, in the order a layer goes through them; the last is where it ends. */
const STAGES = ["Preparing", "Waiting", "Pushing", "Pushed"];
function statusesByLayer(frames: TImagePullProgress[]): Map<string, string[]> {
  const history = new Map<string, string[]>();
  for (const frame of frames) for (const layer of frame.layers) history.set(layer.id, [...(history.get(layer.id) ?? []), layer.status]);
  return history;
}

describe("image push", () => {
  it("pushes with per-layer progress in Docker's order, ending complete; another host pulls the same image", async () => {
    const reference = `${open.host}/berth/pushed-${suffix}:1`;
    const result = await push(users.operator, sourceId, reference);
    expect(result.end).toMatchObject({ error: null, imageId: sourceId });
    expect(result.started.reference).toBe(reference);
    expect(result.frames.map((f) => f.seq)).toEqual(result.frames.map((_, i) => i + 1));
    expect(result.frames.at(-1)!.progress.done).toEqual({ imageId: sourceId, digest: result.end!.digest });

    // Every layer of the image went through Docker's stages in order and ended pushed (this registry had none of them).
    const layers = JSON.parse(await onSource(["image", "inspect", "--format", "{{json .RootFS.Layers}}", SOURCE])) as string[];
    const history = statusesByLayer(result.frames.map((f) => f.progress));
    expect(history.size).toBe(layers.length);
    for (const [id, statuses] of history) {
      const order = statuses.map((status) => STAGES.indexOf(status));
      expect(order.every((s) => s >= 0), `known stages for ${id}: ${statuses.join(" → ")}`).toBe(true);
      expect(order, `stages in order for ${id}`).toEqual([...order].sort((a, b) => a - b));
      expect(statuses.at(-1)).toBe("Pushed");
    }
    // Byte progress: the 5 MB layer reported its size while it uploaded.
    expect(result.frames.flatMap((f) => f.progress.layers).some((l) => l.status === "Pushing" && (l.total ?? 0) > 1_000_000 && (l.current ?? 0) > 0)).toBe(true);
    // Berth tagged the image as the reference on the way (docker push pushes a name).
    expect(await idOf(reference)).toBe(sourceId);

    // The oracle: a clean daemon pulls the reference with the CLI and gets the same digest and the same image.
    const pulled = await dockerCli(["pull", reference], { host: clean.dockerHost, timeoutMs: 120_000 });
    expect(pulled).toContain(`Digest: ${result.end!.digest}`);
    expect(await idOf(reference, clean.dockerHost)).toBe(sourceId);

    const audit = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.push", actorId: users.operator.id }, orderBy: { seq: "desc" }, select: { outcome: true, target: true, params: true } });
    expect(audit).toMatchObject({ outcome: "SUCCESS", target: `imageId:${sourceId}`, params: { reference, imageId: sourceId, authenticatedAs: null, digest: result.end!.digest } });

    // Pushed again under another tag: every layer is already there, and Docker says so.
    const again = await push(users.operator, sourceId, `${open.host}/berth/pushed-${suffix}:2`);
    expect(again.end).toMatchObject({ error: null, digest: result.end!.digest });
    const statuses = [...statusesByLayer(again.frames.map((f) => f.progress)).values()];
    expect(statuses.length).toBe(layers.length);
    for (const list of statuses) expect(list.at(-1)).toBe("Layer already exists");
  });

  it("a wrong registry password gives Docker's clear refusal; the right one pushes, audited without the password", async () => {
    const reference = `${locked.host}/private/pushed-${suffix}:1`;
    const registry = await createRegistry({
      db: t.server.db,
      secrets: t.server.deps.secrets,
      teamId,
      fields: { name: `locked-${suffix}`, url: locked.url, username: locked.credentials!.username, password: "not-the-password" },
    });
    const wrong = await push(users.operator, sourceId, reference).then(
      (r) => r.end?.error ?? "pushed",
      (error: Error) => error.message,
    );
    expect(wrong).toMatch(/unauthorized|authentication required/i);
    const failed = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.push", outcome: "FAILURE" }, orderBy: { seq: "desc" }, select: { error: true, params: true } });
    expect(failed.error).toBe(wrong);
    expect(JSON.stringify(failed.params)).not.toContain("not-the-password");

    await updateRegistry({ db: t.server.db, secrets: t.server.deps.secrets, registryId: registry.id, fields: { password: locked.credentials!.password } });
    const pushed = await push(users.operator, sourceId, reference);
    expect(pushed.end).toMatchObject({ error: null, imageId: sourceId });
    // The registry has it: the clean host pulls it with the CLI (logged in) and gets the same digest and image.
    expect(await locked.docker(["pull", reference], { host: clean.dockerHost })).toContain(`Digest: ${pushed.end!.digest}`);
    expect(await idOf(reference, clean.dockerHost)).toBe(sourceId);
    const row = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.push", outcome: "SUCCESS" }, orderBy: { seq: "desc" }, select: { params: true } });
    expect(row.params).toMatchObject({ authenticatedAs: `${locked.credentials!.username}@${locked.host}` });
    expect(JSON.stringify(row.params)).not.toContain(locked.credentials!.password);
  });

  it("refuses a viewer, and a digest as the target, with a clear message", async () => {
    const viewer = await connectBrowserSocket(t.url, { cookie: users.viewer.cookie });
    sockets.push(viewer);
    expect(await emitWithAck(viewer, ClientEvent.imagePush, { hostId, imageId: sourceId, reference: `${open.host}/x:1` })).toMatchObject({ ok: false, code: "FORBIDDEN" });
    const operator = await connectBrowserSocket(t.url, { cookie: users.operator.cookie });
    sockets.push(operator);
    const digest = await emitWithAck(operator, ClientEvent.imagePush, { hostId, imageId: sourceId, reference: `${open.host}/x@sha256:${"a".repeat(64)}` });
    expect(digest).toMatchObject({ ok: false, code: "BAD_REQUEST" });
    expect(digest.ok ? "" : digest.message).toMatch(/names a digest: give a tag/);
    // Refused before any push ran, and still in the trail: the viewer's as DENIED, the operator's as FAILURE in its words.
    const refusals = await t.server.db.auditEvent.findMany({
      where: { action: "images.push", actorId: { in: [users.viewer.id, users.operator.id] }, outcome: { in: ["DENIED", "FAILURE"] } },
      select: { actorId: true, outcome: true, error: true },
    });
    expect(refusals).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actorId: users.viewer.id, outcome: "DENIED" }),
        expect.objectContaining({ actorId: users.operator.id, outcome: "FAILURE", error: expect.stringMatching(/names a digest: give a tag/) }),
      ]),
    );
  });
});

describe("tag, untag and remove", () => {
  it("tags, untags one of several tags (the image stays), and removes; the CLI agrees at each step", async () => {
    const operator = await callerFor(t.server, users.operator);
    const viewer = await callerFor(t.server, users.viewer);
    const v2 = `berth-test/tagged-${suffix}:v2`;
    const v3 = `berth-test/tagged-${suffix}:v3`;
    await expect(viewer.images.tag({ hostId, imageId: sourceId, reference: v2 })).rejects.toMatchObject({ code: "FORBIDDEN" });
    await operator.images.tag({ hostId, imageId: sourceId, reference: v2 });
    await operator.images.tag({ hostId, imageId: sourceId, reference: v3 });
    expect(await idOf(v2)).toBe(sourceId);
    expect(await idOf(v3)).toBe(sourceId);
    await expect(operator.images.tag({ hostId, imageId: sourceId, reference: "Berth/Upper:1" })).rejects.toThrow(/must be lower-case/);

    // Untagging one tag of several: the tag goes, the image and its other tags stay.
    const untagged = await operator.images.untag({ hostId, reference: v2 });
    expect(untagged).toEqual({ untagged: [v2], deleted: [] });
    expect(await exists(v2)).toBe(false);
    expect(await idOf(v3)).toBe(sourceId);
    expect(await idOf(SOURCE)).toBe(sourceId);
    // Berth's mirror follows before the answer.
    const row = await t.server.db.image.findUniqueOrThrow({ where: { hostId_dockerId: { hostId, dockerId: sourceId } }, select: { repoTags: true } });
    expect(row.repoTags).toContain(v3);
    expect(row.repoTags).not.toContain(v2);
    // A short image id is not a tag: nothing is removed by mistake.
    await expect(operator.images.untag({ hostId, reference: sourceId.slice(7, 19) })).rejects.toThrow(/not a tag|No such image/i);
    expect(await exists(sourceId)).toBe(true);
  });

  it("remove without force names the container that uses the image; with force it goes, as docker rmi -f", async () => {
    const operator = await callerFor(t.server, users.operator);
    const tag = `berth-test/removable-${suffix}:1`;
    await build(tag, `FROM ${LAYERED_TEST_IMAGE}\nRUN echo removable-${suffix} > /r\n`);
    const imageId = await idOf(tag);
    const container = `push-user-${suffix}`;
    await onSource(["create", "--name", container, tag, "true"]);
    await waitFor(() => t.server.db.image.findUnique({ where: { hostId_dockerId: { hostId, dockerId: imageId } }, select: { dockerId: true } }), { what: "the removable image in Berth" });

    await expect(operator.images.remove({ hostId, imageId, force: false })).rejects.toThrow(new RegExp(`used by container ${container} \\(created\\)`));
    expect(await idOf(tag)).toBe(imageId);
    const denied = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.remove" }, orderBy: { seq: "desc" }, select: { outcome: true, error: true, target: true } });
    expect(denied).toMatchObject({ outcome: "FAILURE", target: `imageId:${imageId}` });
    expect(denied.error).toContain(container);

    const removed = await operator.images.remove({ hostId, imageId, force: true });
    expect(removed.untagged).toEqual([tag]);
    expect(removed.deleted).toContain(imageId);
    expect(await exists(imageId)).toBe(false);
    // Docker keeps the container (it names an image that is gone), as the CLI does.
    expect(await onSource(["inspect", "--format", "{{.Image}}", container])).toBe(imageId);
    await onSource(["rm", container]);
  });
});

describe("prune", () => {
  it("a dangling prune's preview is what Docker's own prune takes, with the same space reclaimed", async () => {
    const operator = await callerFor(t.server, users.operator);
    const heads = await makeDangling(`berth-test/dangle-${suffix}:1`);
    // A dangling image a container uses is never pruned.
    await build(`berth-test/dused-${suffix}:1`, `FROM ${LAYERED_TEST_IMAGE}\nRUN echo used-${suffix} > /u\n`);
    const used = await idOf(`berth-test/dused-${suffix}:1`);
    await onSource(["create", "--name", `push-dused-${suffix}`, used, "true"]);
    await build(`berth-test/dused-${suffix}:1`, `FROM ${LAYERED_TEST_IMAGE}\nRUN echo used-again-${suffix} > /u\n`);

    const preview = await operator.images.prunePreview({ hostId, mode: "dangling" });
    const ids = preview.images.map((i) => i.id);
    expect(ids.length).toBeGreaterThanOrEqual(heads.length);
    for (const head of heads) expect(ids).toContain(head);
    expect(ids).not.toContain(used);
    expect(preview.images.some((i) => i.intermediate), "the classic builder's intermediate steps go with their dangling image").toBe(true);
    expect(preview.reclaimableBytes).toBeGreaterThan(100_000);

    const before = await allImageIds();
    const docker = await dockerPrune({ dangling: ["true"] });
    const deletedImages = (docker.ImagesDeleted ?? []).flatMap((d) => (d.Deleted && before.has(d.Deleted) ? [d.Deleted] : []));
    expect(new Set(ids)).toEqual(new Set(deletedImages));
    expect(preview.reclaimableBytes).toBe(docker.SpaceReclaimed);
    expect(await exists(used)).toBe(true);
  });

  it("prune removes exactly the previewed images still prunable; one used since the preview is skipped and kept", async () => {
    const operator = await callerFor(t.server, users.operator);
    const [first, second] = await makeDangling(`berth-test/dangle2-${suffix}:1`);
    const preview = await operator.images.prunePreview({ hostId, mode: "dangling" });
    const ids = preview.images.map((i) => i.id);
    expect(ids).toContain(first);
    expect(ids).toContain(second);
    // Used after the preview: the prune must leave it (and the steps it is built on).
    await onSource(["create", "--name", `push-late-${suffix}`, first!, "true"]);

    const before = await allImageIds();
    const result = await operator.images.prune({ hostId, mode: "dangling", ids });
    const after = await allImageIds();
    const removed = new Set([...before].filter((id) => !after.has(id)));
    expect(new Set(result.removed.map((r) => r.id))).toEqual(removed);
    expect(removed.has(second!)).toBe(true);
    expect(after.has(first!)).toBe(true);
    expect(result.skipped.find((s) => s.id === first)?.reason).toMatch(new RegExp(`used by push-late-${suffix}`));
    // Every previewed image is either removed or reported skipped; nothing else was touched.
    expect(new Set([...removed, ...result.skipped.map((s) => s.id)])).toEqual(new Set(ids));
  });

  it("an unused prune removes exactly its preview, frees the bytes it announced, and is audited with them", async () => {
    const operator = await callerFor(t.server, users.operator);
    await build(`berth-test/unused-${suffix}:1`, `FROM ${LAYERED_TEST_IMAGE}\nRUN head -c 300000 /dev/urandom > /x\n`);
    await onSource(["tag", `berth-test/unused-${suffix}:1`, `berth-test/unused-${suffix}:also`]);
    const preview = await operator.images.prunePreview({ hostId, mode: "unused" });
    const ids = preview.images.map((i) => i.id);
    expect(ids).toContain(await idOf(`berth-test/unused-${suffix}:1`));
    expect(ids).toContain(sourceId);

    const before = await allImageIds();
    const result = await operator.images.prune({ hostId, mode: "unused", ids });
    const after = await allImageIds();
    expect(new Set([...before].filter((id) => !after.has(id)))).toEqual(new Set(ids));
    expect(result.skipped).toEqual([]);
    expect(result.reclaimedBytes).toBe(preview.reclaimableBytes);
    // What the containers use stays.
    for (const name of [`push-dused-${suffix}`, `push-late-${suffix}`]) expect(after.has(await onSource(["inspect", "--format", "{{.Image}}", name]))).toBe(true);

    const audit = await t.server.db.auditEvent.findFirstOrThrow({ where: { action: "images.prune", actorId: users.operator.id }, orderBy: { seq: "desc" }, select: { outcome: true, params: true } });
    expect(audit).toMatchObject({ outcome: "SUCCESS", params: { mode: "unused", requested: ids.length, removed: ids.length, skipped: 0, reclaimedBytes: preview.reclaimableBytes } });
    // Berth's mirror lost them too.
    const mirrored = await t.server.db.image.findMany({ where: { hostId, dockerId: { in: ids } }, select: { dockerId: true } });
    expect(mirrored).toEqual([]);
  });
});
