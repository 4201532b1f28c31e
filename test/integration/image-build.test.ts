/**
 * Building images through Berth on real parts: the machine's dockerd, a real
 * agent, a browser socket client and the real upload route. Docker's CLI is
 * the oracle: what the built image contains is read with `docker run`, and a
 * failing Dockerfile is also built with `docker build` to compare the step
 * and the error. The upload limit is set to 1 MB here so "too large" is cheap.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TBuildLine } from "../../agent/protocol.ts";
import { ClientEvent, ServerEvent, type TImageBuildEnd, type TImageBuildInput, type TImageBuildOutputFrame, type TImageBuildStarted } from "../../server/gateway/browser-protocol.ts";
import { createHost } from "../../server/services/hosts.ts";
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
import { dockerCli, TEST_IMAGE } from "../infra/docker.ts";

const run = promisify(execFile);
const suffix = Math.random().toString(36).slice(2, 8);
const tag = (name: string) => `berth-test/build-${name}-${suffix}:1`;
let t: TestServer;
let agent: TestAgent;
let hostId = "";
let work = "";
const users = {} as Record<"operator" | "operator2" | "viewer" | "builder", TestUser>;
const sockets: BrowserTestSocket[] = [];
const built: string[] = [];

type Build = { ack: { ok: boolean; code?: string; message?: string } & Partial<TImageBuildStarted>; lines: TBuildLine[]; received: number[]; end: TImageBuildEnd | null; socket: BrowserTestSocket };

/** Starts a build through the browser socket, acknowledging output as a page does; `until` resolves the end. */
async function startBuild(user: TestUser, input: Omit<TImageBuildInput, "hostId">): Promise<Build & { until(): Promise<TImageBuildEnd> }> {
  const socket = await connectBrowserSocket(t.url, { cookie: user.cookie });
  sockets.push(socket);
  const result: Build = { ack: { ok: false }, lines: [], received: [], end: null, socket };
  let buildId = "";
  const early: TImageBuildOutputFrame[] = [];
  const earlyEnds: TImageBuildEnd[] = [];
  const take = (frame: TImageBuildOutputFrame) => {
    if (frame.output.kind === "output") result.lines.push(...frame.output.lines);
    if (frame.output.kind === "context") result.received.push(frame.output.received);
    socket.emit(ClientEvent.imageBuildAck, { buildId, seq: frame.seq });
  };
  socket.on(ServerEvent.imageBuildOutput, (frame: TImageBuildOutputFrame) => (!buildId ? early.push(frame) : frame.buildId === buildId ? take(frame) : undefined));
  socket.on(ServerEvent.imageBuildEnd, (end: TImageBuildEnd) => (!buildId ? earlyEnds.push(end) : end.buildId === buildId ? (result.end = end) : undefined));
  const ack = await emitWithAck<TImageBuildStarted>(socket, ClientEvent.imageBuild, { hostId, ...input });
  result.ack = ack as Build["ack"];
  if (ack.ok) {
    buildId = ack.buildId;
    built.push(...ack.tags);
    for (const frame of early) if (frame.buildId === buildId) take(frame);
    for (const end of earlyEnds) if (end.buildId === buildId) result.end = end;
  }
  return Object.assign(result, { until: () => waitFor(() => result.end, { what: "the end of the build", timeoutMs: 90_000 }) });
}

async function upload(user: TestUser, format: "tar" | "zip" | "folder", body: Buffer | FormData) {
  const response = await fetch(`${t.url}/api/build-context?${new URLSearchParams({ hostId, format })}`, {
    method: "POST",
    headers: { cookie: user.cookie, origin: t.url, ...(body instanceof FormData ? {} : { "content-type": "application/octet-stream" }) },
    body: body instanceof FormData ? body : new Uint8Array(body),
  });
  const text = await response.text();
  return { status: response.status, text, json: response.ok ? (JSON.parse(text) as { contextId: string; bytes: number; files: number }) : null };
}

/**
 * POSTs the tar a started build announced (its uploadContextId), as a page
 * does: the first `first` bytes, then, once `between` says so, the rest (or
 * the request is dropped there). Resolves the answer, or status 0 and the
 * error if the connection went before one came.
 */
function uploadInto(
  user: TestUser,
  contextId: string,
  body: Buffer,
  opts: { first?: number; between?: () => Promise<"rest" | "drop">; contentLength?: number } = {},
): Promise<{ status: number; text: string }> {
  return new Promise((resolve) => {
    const req = http.request(`${t.url}/api/build-context?${new URLSearchParams({ hostId, format: "tar", contextId })}`, {
      method: "POST",
      headers: { cookie: user.cookie, origin: t.url, "content-type": "application/octet-stream", "content-length": String(opts.contentLength ?? body.length) },
    });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    req.on("error", (error) => resolve({ status: 0, text: error.message }));
    const first = opts.first ?? body.length;
    req.write(body.subarray(0, first));
    void (opts.between ?? (async () => "rest" as const))().then((next) => (next === "rest" ? req.end(body.subarray(first)) : req.destroy()));
  });
}

/** The audit row of the build tagged `name`: written as the build ends, alongside the end the page gets, so waited for. */
const buildAudit = (name: string, outcome: "SUCCESS" | "FAILURE") =>
  waitFor(
    () =>
      t.server.db.auditEvent.findFirst({
        where: { action: "images.build", outcome, targetName: name },
        orderBy: { seq: "desc" },
        select: { params: true, target: true, error: true },
      }),
    { what: `the audit of the build of ${name}` },
  );

/** Writes files (relative path → content) under a fresh folder. */
async function folder(name: string, files: Record<string, string | Buffer>): Promise<string> {
  const dir = path.join(work, name);
  for (const [file, content] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  return dir;
}
/** The regular files GNU tar lists in a tar (the oracle for a count). */
const tarListing = async (bytes: Buffer) => {
  const file = path.join(work, `listing-${randomBytes(3).toString("hex")}.tar`);
  await writeFile(file, bytes);
  return (await run("tar", ["-tf", file], { encoding: "utf8" })).stdout.split("\n").filter((line) => line && !line.endsWith("/"));
};
const tarOf = async (dir: string) => (await run("tar", ["-C", dir, "-cf", "-", "."], { encoding: "buffer", maxBuffer: 64 << 20 })).stdout;
async function zipOf(dir: string): Promise<Buffer> {
  const file = path.join(work, `${path.basename(dir)}-${randomBytes(3).toString("hex")}.zip`);
  await run("zip", ["-q", "-r", file, "."], { cwd: dir });
  return readFile(file);
}
async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(path.join(dir, entry.name), rel)));
    else out.push(rel);
  }
  return out.sort();
}

beforeAll(async () => {
  work = await mkdtemp(path.join(os.tmpdir(), "berth-build-test-"));
  t = await startTestServer({ name: "image_build", env: { BERTH_BUILD_CONTEXT_MAX_MB: "1" } });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "build-team" } });
  users.operator = await createSignedInUser(t.server, { email: "operator@build.test" });
  users.operator2 = await createSignedInUser(t.server, { email: "operator2@build.test" });
  users.viewer = await createSignedInUser(t.server, { email: "viewer@build.test" });
  // Builds, but may not remove images (nor move their tags).
  users.builder = await createSignedInUser(t.server, { email: "builder@build.test" });
  const builder = await db.role.create({ data: { name: "Builder", permissions: ["host.view", "image.build"] } });
  await db.teamMember.createMany({
    data: [
      { teamId: team.id, userId: users.operator.id, roleId: "role_operator" },
      { teamId: team.id, userId: users.operator2.id, roleId: "role_operator" },
      { teamId: team.id, userId: users.viewer.id, roleId: "role_viewer" },
      { teamId: team.id, userId: users.builder.id, roleId: builder.id },
    ],
  });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "build-host", teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
}, 180_000);

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await t?.stop();
  if (built.length) await dockerCli(["image", "rm", "--force", ...new Set(built)]).catch(() => undefined);
  if (work) await rm(work, { recursive: true, force: true });
});

const MULTI_STAGE = [
  `FROM ${TEST_IMAGE} AS base`,
  "ARG GREETING=hello",
  'RUN echo "$GREETING from base" > /greeting',
  "COPY app/ /app/",
  "FROM base AS final",
  "RUN echo final > /stage",
  "",
].join("\n");

describe("image build", () => {
  it("builds a target stage with build args; the editor's Dockerfile replaces the context's; the image is what docker run shows", async () => {
    const greeting = `bonjour-${suffix}`;
    // The context's own Dockerfile would fail: the editor's text must be the one built.
    const dir = await folder("args", { Dockerfile: "FROM scratch\nCOPY does-not-exist /\n", "app/hello.txt": "hello from the context\n" });
    const stored = await upload(users.operator, "tar", await tarOf(dir));
    expect(stored.status, stored.text).toBe(200);
    expect(stored.json!.files).toBe(2);
    const build = await startBuild(users.operator, {
      contextId: stored.json!.contextId,
      tags: [tag("args")],
      dockerfileText: MULTI_STAGE,
      buildArgs: { GREETING: greeting, NPM_TOKEN: "s3cret-build-arg" },
      target: "base",
      noCache: true,
    });
    expect(build.ack.ok, build.ack.message).toBe(true);
    const end = await build.until();
    expect(end.error, build.lines.map((l) => l.text).join("\n")).toBeNull();

    // Docker's CLI is the oracle for what was built.
    const imageId = await dockerCli(["image", "inspect", "--format", "{{.Id}}", tag("args")]);
    expect(end.imageId).toBe(imageId);
    expect(await dockerCli(["run", "--rm", tag("args"), "cat", "/greeting", "/app/hello.txt"])).toBe(`${greeting} from base\nhello from the context`);
    // --target base: the final stage's step never ran.
    expect(await dockerCli(["run", "--rm", tag("args"), "sh", "-c", "test -e /stage && echo final-ran || echo stopped-at-base"])).toBe("stopped-at-base");

    // Output came step by step: the headings Docker numbered, in order (4 steps up to the base stage).
    const steps = build.lines.filter((l) => l.kind === "step");
    expect(steps.map((l) => l.text.replace(/ :.*/, ""))).toEqual(["Step 1/4", "Step 2/4", "Step 3/4", "Step 4/4"]);
    expect(steps[2]!.text).toBe('Step 3/4 : RUN echo "$GREETING from base" > /greeting');
    expect(build.received.at(-1)).toBe(build.ack.contextBytes);

    // Audited with the tags and image id; a secret-looking build arg's value is not recorded.
    const audit = await buildAudit(tag("args"), "SUCCESS");
    expect(audit?.target).toBe(`imageId:${imageId}`);
    const params = audit!.params as { tags: string[]; buildArgs: Record<string, string> };
    expect(params.tags).toEqual([tag("args")]);
    expect(params.buildArgs).toEqual({ GREETING: greeting, NPM_TOKEN: "[redacted]" });
    expect(JSON.stringify(audit)).not.toContain("s3cret-build-arg");
  });

  it("a failing build reports the step that failed and Docker's error, as docker build does", async () => {
    const dockerfile = `FROM ${TEST_IMAGE}\nRUN echo fine\nRUN echo about to fail && exit 3\nRUN echo never\n`;
    const dir = await folder("failing", { Dockerfile: dockerfile });
    // The oracle: the same context through the CLI.
    const cli = await run("docker", ["build", "--no-cache", "-t", tag("failing-cli"), dir], { env: { ...process.env, DOCKER_BUILDKIT: "0" } }).then(
      ({ stdout, stderr }) => `${stdout}\n${stderr}`,
      (error: { stdout: string; stderr: string }) => `${error.stdout}\n${error.stderr}`,
    );
    const cliError = /The command .* returned a non-zero code: 3/.exec(cli)?.[0];
    expect(cliError, cli).toBeTruthy();
    expect(cli).toContain("Step 3/4 : RUN echo about to fail && exit 3");

    const stored = await upload(users.operator, "tar", await tarOf(dir));
    const build = await startBuild(users.operator, { contextId: stored.json!.contextId, tags: [tag("failing")], noCache: true });
    const end = await build.until();
    expect(end.imageId).toBeNull();
    expect(end.error).toBe(cliError);
    expect(end.step).toEqual({ number: 3, total: 4, instruction: "RUN echo about to fail && exit 3" });
    const errorLine = build.lines.find((l) => l.kind === "error");
    expect(errorLine).toMatchObject({ text: cliError, step: 3 });
    expect(build.lines.some((l) => l.text === "about to fail" && l.step === 3)).toBe(true);
    await expect(dockerCli(["image", "inspect", tag("failing")])).rejects.toThrow(/No such image/);
    const audit = await buildAudit(tag("failing"), "FAILURE");
    expect(audit?.error).toBe(cliError);
    expect((audit?.params as { failedStep: string }).failedStep).toBe("Step 3/4 : RUN echo about to fail && exit 3");
  });

  it("refuses a context over the limit with a clear error, for a tar and for a zip that unpacks beyond it, and builds nothing", async () => {
    const big = await folder("big", { Dockerfile: `FROM ${TEST_IMAGE}\nCOPY . /ctx/\n`, "blob.bin": randomBytes(1536 * 1024) });
    const tooBig = await upload(users.operator, "tar", await tarOf(big));
    expect(tooBig.status).toBe(413);
    expect(tooBig.text).toBe("The build context is larger than the 1 MB limit (BERTH_BUILD_CONTEXT_MAX_MB); leave out what the build does not need");
    // 3 MB of zeros zip to a few KB: the upload is small, the context it becomes is not.
    const bomb = await folder("bomb", { Dockerfile: `FROM ${TEST_IMAGE}\n`, "zeros.bin": Buffer.alloc(3 * 1024 * 1024) });
    const zipped = await zipOf(bomb);
    expect(zipped.length).toBeLessThan(1024 * 1024);
    const unpacked = await upload(users.operator, "zip", zipped);
    expect(unpacked.status).toBe(413);
    expect(unpacked.text).toContain("BERTH_BUILD_CONTEXT_MAX_MB");
    // Nothing to build with: no context id was handed out, and an unknown one is refused.
    const build = await startBuild(users.operator, { contextId: "00000000-0000-4000-8000-000000000000", tags: [tag("too-big")] });
    expect(build.ack).toMatchObject({ ok: false, code: "NOT_FOUND" });
    await expect(dockerCli(["image", "inspect", tag("too-big")])).rejects.toThrow(/No such image/);
  });

  it("cancel stops the build: Docker's step container goes away and no image is tagged", async () => {
    const marker = 3000 + Math.floor(Math.random() * 900);
    const build = await startBuild(users.operator, { tags: [tag("cancel")], dockerfileText: `FROM ${TEST_IMAGE}\nRUN sleep ${marker} && echo finished\n`, noCache: true });
    expect(build.ack.ok, build.ack.message).toBe(true);
    const running = async () => (await dockerCli(["ps", "--no-trunc", "--format", "{{.Command}}"])).split("\n").filter((c) => c.includes(`sleep ${marker}`));
    // The RUN step's container is really running before the cancel.
    await waitFor(async () => (await running()).length > 0, { what: "the RUN step's container", timeoutMs: 60_000 });
    expect(build.lines.some((l) => l.text === `Step 2/2 : RUN sleep ${marker} && echo finished`)).toBe(true);
    const cancel = await emitWithAck<{ cancelled: boolean }>(build.socket, ClientEvent.imageBuildCancel, { buildId: (build.ack as TImageBuildStarted).buildId });
    expect(cancel).toMatchObject({ ok: true, cancelled: true });
    const end = await build.until();
    expect(end).toMatchObject({ error: "Cancelled", imageId: null });
    await waitFor(async () => (await running()).length === 0, { what: "the step's container to stop", timeoutMs: 30_000 });
    await expect(dockerCli(["image", "inspect", tag("cancel")])).rejects.toThrow(/No such image/);
  });

  it("a zip and a browser folder give the same image content as a tar of the same files", async () => {
    const files: Record<string, string | Buffer> = {
      Dockerfile: `FROM ${TEST_IMAGE}\nCOPY app/ /app/\n`,
      "app/readme.txt": "same everywhere\n",
      "app/nested/deeper/data.bin": randomBytes(200_000),
      "app/nested/notes.md": "# notes\n",
    };
    const dir = await folder("formats", files);
    // What the image must hold: hashes computed here, from the files themselves.
    const expected = Object.entries(files)
      .filter(([name]) => name.startsWith("app/"))
      .map(([name, content]) => `${createHash("md5").update(content).digest("hex")}  ./${name.slice(4)}`)
      .sort();
    const form = new FormData();
    for (const name of await listFiles(dir)) form.append("file", new Blob([await readFile(path.join(dir, name))]), name);
    const uploads = {
      tar: await upload(users.operator, "tar", await tarOf(dir)),
      zip: await upload(users.operator, "zip", await zipOf(dir)),
      folder: await upload(users.operator, "folder", form),
    };
    const contents: Record<string, string[]> = {};
    for (const [format, stored] of Object.entries(uploads)) {
      expect(stored.status, `${format}: ${stored.text}`).toBe(200);
      expect(stored.json!.files, format).toBe(4);
      const build = await startBuild(users.operator, { contextId: stored.json!.contextId, tags: [tag(`format-${format}`)] });
      const end = await build.until();
      expect(end.error, format).toBeNull();
      contents[format] = (await dockerCli(["run", "--rm", tag(`format-${format}`), "sh", "-c", "cd /app && find . -type f | xargs md5sum"])).split("\n").sort();
    }
    expect(contents.tar).toEqual(expected);
    expect(contents.zip).toEqual(expected);
    expect(contents.folder).toEqual(expected);
  });

  describe("a .tar uploaded while its build runs", () => {
    const FRAME = 512 * 1024;
    /** A context of ~610 KB (the limit here is 1 MB): more than one 512 KiB frame, so half of it reaches the agent before the rest is sent. */
    const streamedContext = async (name: string, dockerfile: string) => {
      const files: Record<string, string | Buffer> = { Dockerfile: dockerfile, "app/data.bin": randomBytes(600_000), "app/nested/notes.md": `# ${name}\n` };
      const dir = await folder(name, files);
      const expected = Object.entries(files)
        .filter(([file]) => file.startsWith("app/"))
        .map(([file, content]) => `${createHash("md5").update(content).digest("hex")}  ./${file.slice(4)}`)
        .sort();
      return { dir, tar: await tarOf(dir), expected };
    };
    const announce = (user: TestUser, bytes: number, input: Omit<TImageBuildInput, "hostId" | "upload">) => startBuild(user, { ...input, upload: { format: "tar", bytes } });

    it("is forwarded to the host as it arrives: the build takes half of it before the rest is sent, and builds what docker build of those files gives", async () => {
      // The context's own Dockerfile would fail: the editor's text, appended where the tar ends, must be the one built.
      const context = await streamedContext("streamed", "FROM scratch\nCOPY does-not-exist /\n");
      const build = await announce(users.operator, context.tar.length, { tags: [tag("streamed")], dockerfileText: `FROM ${TEST_IMAGE}\nCOPY app/ /app/\n`, noCache: true });
      expect(build.ack.ok, build.ack.message).toBe(true);
      const started = build.ack as TImageBuildStarted;
      expect(started.uploadContextId).toMatch(/^[0-9a-f-]{36}$/);
      // The agent is told the tar plus the editor's Dockerfile entry.
      expect(started.contextBytes).toBeGreaterThan(context.tar.length);
      const answer = uploadInto(users.operator, started.uploadContextId!, context.tar, {
        first: FRAME + 1000,
        between: async () => {
          // The host has the first frame while the rest of the upload has not been sent: the build is under way, not waiting for a stored upload.
          await waitFor(() => build.received.some((received) => received >= FRAME), { what: "the agent to take the first frame", timeoutMs: 30_000 });
          expect(build.end).toBeNull();
          return "rest";
        },
      });
      const uploaded = await answer;
      expect(uploaded.status, uploaded.text).toBe(200);
      expect(JSON.parse(uploaded.text)).toMatchObject({ bytes: context.tar.length, files: (await tarListing(context.tar)).length });
      const end = await build.until();
      expect(end.error, build.lines.map((l) => l.text).join("\n")).toBeNull();
      expect(build.received.at(-1)).toBe(started.contextBytes);
      expect(end.imageId).toBe(await dockerCli(["image", "inspect", "--format", "{{.Id}}", tag("streamed")]));
      const contents = (await dockerCli(["run", "--rm", tag("streamed"), "sh", "-c", "cd /app && find . -type f | xargs md5sum"])).split("\n").sort();
      expect(contents).toEqual(context.expected);
      const audit = await buildAudit(tag("streamed"), "SUCCESS");
      expect((audit?.params as { context: unknown }).context).toEqual({ format: "tar", bytes: started.contextBytes, uploadedDuringBuild: true });
    });

    it("cancel while the context is still uploading stops both: the upload is answered, no image, nothing left waiting", async () => {
      const context = await streamedContext("streamed-cancel", `FROM ${TEST_IMAGE}\nCOPY app/ /app/\n`);
      const build = await announce(users.operator, context.tar.length, { tags: [tag("streamed-cancel")], noCache: true });
      expect(build.ack.ok, build.ack.message).toBe(true);
      const started = build.ack as TImageBuildStarted;
      const uploaded = await uploadInto(users.operator, started.uploadContextId!, context.tar, {
        first: FRAME + 1000,
        between: async () => {
          await waitFor(() => build.received.some((received) => received >= FRAME), { what: "the agent to take the first frame", timeoutMs: 30_000 });
          const cancel = await emitWithAck<{ cancelled: boolean }>(build.socket, ClientEvent.imageBuildCancel, { buildId: started.buildId });
          expect(cancel).toMatchObject({ ok: true, cancelled: true });
          await build.until();
          return "rest";
        },
      });
      // The upload's request is answered with why (or, had its answer lost the race with the rest of the body, its connection closed).
      if (uploaded.status !== 0) expect(uploaded).toEqual({ status: 409, text: "The build ended before its context was uploaded: Cancelled" });
      // The page hears of the end once its audit row is written, which may be after the upload was answered.
      expect(await build.until()).toMatchObject({ error: "Cancelled", imageId: null });
      await expect(dockerCli(["image", "inspect", tag("streamed-cancel")])).rejects.toThrow(/No such image/);
      // Nothing waits for that context any more.
      const again = await uploadInto(users.operator, started.uploadContextId!, context.tar);
      expect(again.status).toBe(404);
      const audit = await buildAudit(tag("streamed-cancel"), "FAILURE");
      expect(audit?.error).toBe("Cancelled");
      // The page's socket is free for the next build, which runs to its end.
      const next = await startBuild(users.operator, { tags: [tag("after-cancel")], dockerfileText: `FROM ${TEST_IMAGE}\nRUN echo after\n` });
      expect((await next.until()).error).toBeNull();
    });

    it("is taken once, by whoever started the build, of the size announced and a tar; over the limit it is refused before the build starts", async () => {
      const context = await streamedContext("streamed-guard", `FROM ${TEST_IMAGE}\nCOPY app/ /app/\n`);
      // Over BERTH_BUILD_CONTEXT_MAX_MB (1 MB here): refused with the limit in words, nothing started.
      const tooBig = await announce(users.operator, 2 * 1024 * 1024, { tags: [tag("streamed-too-big")] });
      expect(tooBig.ack).toMatchObject({ ok: false, message: "The build context is larger than the 1 MB limit (BERTH_BUILD_CONTEXT_MAX_MB); leave out what the build does not need" });

      // Another operator of the same host cannot feed (or spoil) someone else's build; its owner still can, once.
      const build = await announce(users.operator, context.tar.length, { tags: [tag("streamed-guard")] });
      const id = (build.ack as TImageBuildStarted).uploadContextId!;
      expect(await uploadInto(users.operator2, id, context.tar)).toMatchObject({ status: 404 });
      expect(await uploadInto(users.operator, id, context.tar)).toMatchObject({ status: 200 });
      expect((await build.until()).error).toBeNull();
      expect(await uploadInto(users.operator, id, context.tar)).toMatchObject({ status: 404 });

      // Not the size announced: refused, and the build ends with the reason.
      const sized = await announce(users.operator, context.tar.length, { tags: [tag("streamed-sized")] });
      const resized = await uploadInto(users.operator, (sized.ack as TImageBuildStarted).uploadContextId!, context.tar.subarray(0, 10_240));
      expect(resized).toEqual({ status: 400, text: `The upload is 10240 bytes; its build announced ${context.tar.length}` });
      expect((await sized.until()).error).toBe(resized.text);

      // Not a tar: refused at its first header, the build ends with it.
      const junk = randomBytes(20_000);
      const notTar = await announce(users.operator, junk.length, { tags: [tag("streamed-junk")] });
      const refused = await uploadInto(users.operator, (notTar.ack as TImageBuildStarted).uploadContextId!, junk);
      expect(refused).toEqual({ status: 400, text: "The upload is not a tar archive (a header's checksum does not match)" });
      expect((await notTar.until()).error).toBe(refused.text);

      // The page goes away mid-upload: the build ends, saying so.
      const dropped = await announce(users.operator, context.tar.length, { tags: [tag("streamed-dropped")] });
      await uploadInto(users.operator, (dropped.ack as TImageBuildStarted).uploadContextId!, context.tar, {
        first: FRAME + 1000,
        between: async () => {
          await waitFor(() => dropped.received.some((received) => received >= FRAME), { what: "the agent to take the first frame", timeoutMs: 30_000 });
          return "drop";
        },
      });
      expect((await dropped.until()).error).toMatch(/^The upload did not complete: /);
      for (const name of ["streamed-sized", "streamed-junk", "streamed-dropped"]) await expect(dockerCli(["image", "inspect", tag(name)])).rejects.toThrow(/No such image/);
    }, 240_000);
  });

  it("building under another image's tag moves it, so it needs image.remove as `docker tag` does; a new tag does not", async () => {
    const theirs = tag("theirs");
    await dockerCli(["tag", TEST_IMAGE, theirs]);
    built.push(theirs);
    const before = await dockerCli(["image", "inspect", "--format", "{{.Id}}", theirs]);
    await waitFor(() => t.server.db.image.findFirst({ where: { hostId, repoTags: { has: theirs } }, select: { dockerId: true } }), { what: "the tag in Berth" });
    const dockerfileText = `FROM ${TEST_IMAGE}\nRUN echo mine > /mine\n`;
    const moving = await startBuild(users.builder, { tags: [tag("fresh"), theirs], dockerfileText });
    expect(moving.ack).toMatchObject({ ok: false, code: "FORBIDDEN", message: expect.stringContaining(`${theirs} is another image's tag`) });
    expect(await dockerCli(["image", "inspect", "--format", "{{.Id}}", theirs])).toBe(before);
    await expect(dockerCli(["image", "inspect", tag("fresh")])).rejects.toThrow(/No such image/);
    const refused = await t.server.db.auditEvent.findFirst({ where: { action: "images.build", actorId: users.builder.id, outcome: "DENIED" }, select: { error: true } });
    expect(refused?.error).toContain("image.remove");
    // Under a tag nobody has, the same build goes through.
    const fresh = await startBuild(users.builder, { tags: [tag("fresh")], dockerfileText });
    expect(fresh.ack).toMatchObject({ ok: true });
    expect((await fresh.until()).error).toBeNull();
  });

  it("a user uploads at most two contexts at once: a third is refused in words (429) until one ends", async () => {
    // Two uploads that announce 600 KB and send 1 KB, then wait: held open as a slow (or hostile) client would.
    const slow = [0, 1].map(() => {
      const req = http.request(`${t.url}/api/build-context?${new URLSearchParams({ hostId, format: "tar" })}`, {
        method: "POST",
        headers: { cookie: users.operator.cookie, origin: t.url, "content-type": "application/octet-stream", "content-length": 600_000 },
      });
      req.on("error", () => undefined);
      req.write(Buffer.alloc(1024));
      return req;
    });
    await waitFor(() => t.server.deps.buildContexts.uploadsInFlight(users.operator.id) === 2 || null, { what: "two uploads in flight" });
    const dir = await folder("third", { Dockerfile: `FROM ${TEST_IMAGE}\n` });
    const third = await upload(users.operator, "tar", await tarOf(dir));
    expect(third.status).toBe(429);
    expect(third.text).toMatch(/already have 2 build contexts uploading/);
    // Another user is not held up by them.
    expect((await upload(users.builder, "tar", await tarOf(dir))).status).toBe(200);
    for (const req of slow) req.destroy();
    await waitFor(() => t.server.deps.buildContexts.uploadsInFlight(users.operator.id) === 0 || null, { what: "the slow uploads to end" });
    expect((await upload(users.operator, "tar", await tarOf(dir))).status).toBe(200);
  });

  it("a Viewer can neither upload a context nor build", async () => {
    const dir = await folder("viewer", { Dockerfile: `FROM ${TEST_IMAGE}\n` });
    const stored = await upload(users.viewer, "tar", await tarOf(dir));
    expect(stored.status).toBe(403);
    const build = await startBuild(users.viewer, { tags: [tag("viewer")], dockerfileText: `FROM ${TEST_IMAGE}\n` });
    expect(build.ack).toMatchObject({ ok: false, code: "FORBIDDEN" });
    await expect(dockerCli(["image", "inspect", tag("viewer")])).rejects.toThrow(/No such image/);
    const denied = await t.server.db.auditEvent.count({ where: { action: { in: ["images.build", "images.build.context"] }, outcome: "DENIED", actorId: users.viewer.id } });
    expect(denied).toBe(2);
  });
});
