/**
 * Logs across restarts and the bounds on streams and frames, on real parts:
 * a real dockerd (its own CLI is the oracle for what a log holds), the real
 * agent as a child process, the server on a real Postgres, and socket.io /
 * HTTP clients standing in for browsers and attackers.
 */
import { readFileSync, statSync } from "node:fs";
import http from "node:http";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AGENT_NAMESPACE, LOG_BATCH_MAX_LINES, STREAM_WINDOW_FRAMES, type TLogLine } from "../../agent/protocol.ts";
import { BROWSER_NAMESPACE, ClientEvent, ServerEvent, type TLogsData, type TLogsEnd } from "../../server/gateway/browser-protocol.ts";
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
import { dockerCli, removeContainersByLabel, TEST_IMAGE } from "../infra/docker.ts";

const LABEL = "berth.test=log-bounds";
const suffix = Math.random().toString(36).slice(2, 8);
const PER_USER = 3;
const PER_HOST = 4;

let t: TestServer;
let agent: TestAgent;
let hostId = "";
const users = {} as Record<"alice" | "bob", TestUser>;
const sockets: BrowserTestSocket[] = [];

/** `docker create` + start with this test's label; the script runs under sh. */
async function run(name: string, script: string, extra: string[] = []): Promise<string> {
  const id = await dockerCli(["create", "--init", "--name", `${name}-${suffix}`, "--label", LABEL, ...extra, TEST_IMAGE, "sh", "-c", script]);
  await dockerCli(["start", id]);
  return id;
}

async function state(id: string): Promise<{ running: boolean; exitCode: number }> {
  const [running, exitCode] = (await dockerCli(["inspect", "--format", "{{.State.Running}} {{.State.ExitCode}}", id])).split(" ");
  return { running: running === "true", exitCode: Number(exitCode) };
}

/** Docker's own `docker logs --timestamps [--tail N]`, as `[ts, text]` pairs (the oracle). */
async function dockerLogs(id: string, tail: number | null): Promise<Array<[string, string]>> {
  const out = await dockerCli(["logs", "--timestamps", ...(tail === null ? [] : ["--tail", String(tail)]), id], { timeoutMs: 120_000 });
  if (out === "") return [];
  return out.split("\n").map((line) => {
    const space = line.indexOf(" ");
    return [line.slice(0, space), line.slice(space + 1)];
  });
}

async function socketFor(user: TestUser) {
  const socket = await connectBrowserSocket(t.url, { cookie: user.cookie });
  sockets.push(socket);
  return socket;
}

/** Opens a log and collects its frames; `ack` (default true) acknowledges each frame like the page does. */
async function openLog(socket: BrowserTestSocket, input: Record<string, unknown>, opts: { ack?: boolean } = {}) {
  const lines: TLogLine[] = [];
  let frames = 0;
  let ended: { reason: string | null } | null = null;
  let id: string | null = null;
  const early: TLogsData[] = [];
  const take = (data: TLogsData) => {
    frames++;
    lines.push(...data.lines);
    if (opts.ack !== false) socket.emit(ClientEvent.logsAck, { subscriptionId: data.subscriptionId, seq: data.seq });
  };
  socket.on(ServerEvent.logsData, (data: TLogsData) => {
    if (id === null) early.push(data);
    else if (data.subscriptionId === id) take(data);
  });
  const endedEarly = new Map<string, string | null>(); // a short log can end before the open is answered
  socket.on(ServerEvent.logsEnd, (end: TLogsEnd) => {
    if (id === null) endedEarly.set(end.subscriptionId, end.reason);
    else if (end.subscriptionId === id) ended = { reason: end.reason };
  });
  const ack = await emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.logsOpen, { hostId, ...input });
  if (!ack.ok) throw new Error(`logs:open refused: ${ack.code} ${ack.message}`);
  id = ack.subscriptionId;
  for (const data of early.splice(0)) if (data.subscriptionId === id) take(data);
  if (endedEarly.has(id)) ended = { reason: endedEarly.get(id)! };
  return {
    id,
    lines,
    frames: () => frames,
    ended: () => ended as { reason: string | null } | null,
    close: () => emitWithAck(socket, ClientEvent.logsClose, { subscriptionId: id }),
  };
}

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) * 1024;
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  t = await startTestServer({ name: "logbounds", env: { BERTH_LOG_STREAMS_PER_USER: String(PER_USER), BERTH_LOG_STREAMS_PER_HOST: String(PER_HOST) } });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "log-bounds" } });
  users.alice = await createSignedInUser(t.server, { email: "alice@bounds.test" });
  users.bob = await createSignedInUser(t.server, { email: "bob@bounds.test" });
  await db.teamMember.createMany({
    data: [
      { teamId: team.id, userId: users.alice.id, roleId: "role_viewer" },
      { teamId: team.id, userId: users.bob.id, roleId: "role_viewer" },
    ],
  });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "bounds-host", teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
});

const known = (id: string) => waitFor(() => t.server.db.container.findFirst({ where: { hostId, dockerId: id } }), { what: "the container in the mirror" });

describe("logs across restarts", () => {
  let id = "";

  beforeAll(async () => {
    // Each run numbers itself (the count survives in the container's filesystem), prints 70 lines and exits 3.
    id = await run("restarts", 'n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; for i in $(seq 1 70); do echo "run $n line $i"; done; exit 3');
    for (let runs = 1; runs < 3; runs++) {
      await waitFor(async () => !(await state(id)).running, { what: "the run to end" });
      await dockerCli(["start", id]);
    }
    await waitFor(async () => !(await state(id)).running, { what: "the last run to end" });
    await known(id);
  });

  it("the last N lines are Docker's last N lines, across restarts, whether followed or not", async () => {
    const socket = await socketFor(users.alice);
    const total = (await dockerLogs(id, null)).length;
    expect(total, "three runs of 70 lines").toBe(210);
    for (const tail of [5, 100, 175, 500, null]) {
      const expected = await dockerLogs(id, tail);
      for (const follow of [false, true]) {
        const log = await openLog(socket, { containerId: id, tail, follow });
        await waitFor(() => log.lines.length >= expected.length, { what: `tail ${tail} (follow ${follow})` });
        if (!follow) await waitFor(() => log.ended(), { what: `the end of the log (tail ${tail}, ${log.lines.length} lines, ${log.frames()} frames)` });
        else await log.close();
        expect(log.lines.map((l) => [l.ts, l.text]), `tail ${tail}, follow ${follow}`).toEqual(expected);
      }
    }
  });

  it("marks starts and exits in a followed log, at the time they happened", async () => {
    const live = await run("marked", 'n=$(cat /n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /n; for i in 1 2 3; do echo "run $n line $i"; done; sleep 2; exit 3');
    await known(live);
    const socket = await socketFor(users.alice);
    const log = await openLog(socket, { containerId: live, tail: null, follow: true, markers: true });
    await waitFor(() => log.lines.some((l) => l.marker?.event === "exited"), { what: "the exit marker", timeoutMs: 15_000 });
    expect(await state(live)).toEqual({ running: false, exitCode: 3 });
    await dockerCli(["start", live]);
    await waitFor(() => log.lines.filter((l) => l.marker?.event === "exited").length === 2, { what: "the second run and its exit", timeoutMs: 15_000 });
    expect(log.ended(), "a followed log carries on across a restart").toBeNull();
    const code = (await state(live)).exitCode;
    expect(log.lines.map((l) => l.text)).toEqual([
      "container started",
      "run 1 line 1",
      "run 1 line 2",
      "run 1 line 3",
      `container exited (code ${code})`,
      "container started",
      "run 2 line 1",
      "run 2 line 2",
      "run 2 line 3",
      `container exited (code ${code})`,
    ]);
    // The container's own lines are exactly Docker's, markers aside.
    expect(log.lines.filter((l) => !l.marker).map((l) => [l.ts, l.text])).toEqual(await dockerLogs(live, null));
    const times = log.lines.map((l) => l.ts);
    expect(times, "in time order").toEqual([...times].sort());
    await log.close();
  });
});

describe("a slow reader costs bounded memory", () => {
  it("a page that stops acknowledging pauses the log at its source; acknowledging resumes it", async () => {
    const flood = await run("flood", 'yes "flood line padded to look like a real log line of a busy service"');
    await known(flood);
    const socket = await socketFor(users.alice);
    const rssBefore = rssBytes(agent.process.pid!);
    const log = await openLog(socket, { containerId: flood, tail: 0, follow: true }, { ack: false });
    await waitFor(() => log.frames() >= STREAM_WINDOW_FRAMES, { what: "a window of frames" });
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    const stalled = log.lines.length;
    // Docker kept writing meanwhile; what reached the page stopped at one window.
    expect(log.frames()).toBeLessThanOrEqual(STREAM_WINDOW_FRAMES);
    expect(stalled).toBeLessThanOrEqual(STREAM_WINDOW_FRAMES * LOG_BATCH_MAX_LINES);
    expect(t.server.hub.streamBacklog.length).toBe(1);
    expect(Math.max(...t.server.hub.streamBacklog)).toBeLessThanOrEqual(STREAM_WINDOW_FRAMES);
    // Docker's json-file log (about 130 bytes a line) kept growing meanwhile, far past what reached the page.
    const written = statSync(await dockerCli(["inspect", "--format", "{{.LogPath}}", flood])).size;
    expect(written, "the container wrote far more than one window meanwhile").toBeGreaterThan(stalled * 100 * 10);
    expect(rssBytes(agent.process.pid!) - rssBefore, "the agent did not buffer the flood").toBeLessThan(64 * 1024 * 1024);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    expect(log.lines.length, "still paused").toBe(stalled);
    // Acknowledge what arrived: the log flows again.
    socket.emit(ClientEvent.logsAck, { subscriptionId: log.id, seq: log.frames() });
    await waitFor(() => log.lines.length > stalled, { what: "lines after the ack" });
    await log.close();
    await dockerCli(["rm", "-f", flood]);
  });

  it("downloads a large log completely, equal to `docker logs`, while a slow downloader holds the agent back", async () => {
    const big = await run("big", 'seq 1 150000 | sed "s/^/line number /"; echo "the end"');
    await waitFor(async () => !(await state(big)).running, { what: "the log written", timeoutMs: 60_000 });
    await known(big);
    const url = new URL(`${t.url}/api/logs/download?${new URLSearchParams({ hostId, containerId: big })}`);
    const chunks: Buffer[] = [];
    let maxBacklog = 0;
    await new Promise<void>((resolve, reject) => {
      http
        .get(url, { headers: { cookie: users.bob.cookie } }, (res) => {
          expect(res.statusCode).toBe(200);
          res.once("data", (first: Buffer) => {
            chunks.push(first);
            // Stop reading for a while: the server's response fills, it stops acknowledging, the agent pauses.
            res.pause();
            setTimeout(() => {
              maxBacklog = Math.max(...t.server.hub.streamBacklog);
              res.on("data", (chunk: Buffer) => chunks.push(chunk));
              res.resume();
            }, 1_500);
          });
          res.on("end", () => resolve());
          res.on("error", reject);
        })
        .on("error", reject);
    });
    expect(maxBacklog, "frames in flight while the downloader slept").toBeLessThanOrEqual(STREAM_WINDOW_FRAMES * 2);
    const got = Buffer.concat(chunks).toString("utf8").trimEnd().split("\n");
    const expected = (await dockerLogs(big, null)).map(([ts, text]) => `${ts} stdout ${text}`);
    expect(expected.length).toBe(150_001);
    expect(got.length).toBe(expected.length);
    expect(got).toEqual(expected);
  });
});

describe("log stream quota", () => {
  it("limits open streams per user and per host, with a clear error, and frees a slot on close", async () => {
    const id = await run("quota", "while true; do echo tick; sleep 1; done");
    await known(id);
    const a = await socketFor(users.alice);
    const b = await socketFor(users.bob);
    const open = (socket: BrowserTestSocket) => emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.logsOpen, { hostId, containerId: id, tail: 0, follow: true });
    const alice = [];
    for (let i = 0; i < PER_USER; i++) alice.push(await open(a));
    expect(alice).toHaveLength(PER_USER);
    expect(alice.every((ack) => ack.ok)).toBe(true);
    expect(await open(a)).toEqual({ ok: false, code: "BAD_REQUEST", message: `You already have ${PER_USER} log streams open; close one (another tab or download) first` });
    // The download counts too.
    const download = await fetch(`${t.url}/api/logs/download?${new URLSearchParams({ hostId, containerId: id })}`, { headers: { cookie: users.alice.cookie } });
    expect([download.status, await download.text()]).toEqual([429, `You already have ${PER_USER} log streams open; close one (another tab or download) first`]);
    // Bob has his own allowance, but the host is full after one more.
    expect(await open(b)).toMatchObject({ ok: true });
    expect(await open(b)).toEqual({ ok: false, code: "BAD_REQUEST", message: `This host already serves ${PER_HOST} log streams; try again when one closes` });
    const first = alice[0]!;
    if (!first.ok) throw new Error("unreachable");
    await emitWithAck(a, ClientEvent.logsClose, { subscriptionId: first.subscriptionId });
    expect(await open(b)).toMatchObject({ ok: true });
    for (const socket of [a, b]) socket.disconnect();
    await waitFor(() => t.server.deps.logStreams.count({ hostId }) === 0, { what: "slots given back on disconnect" });
    await dockerCli(["rm", "-f", id]);
  });
});

describe("frame and batch limits", () => {
  /** A raw socket.io client on a namespace, as an attacker would use it. */
  async function rawSocket(namespace: string, headers: Record<string, string> = {}) {
    const socket = io(t.url + namespace, { transports: ["websocket"], reconnection: false, extraHeaders: headers });
    // The agent namespace greets at once: listen before connecting.
    const hello = new Promise<unknown>((resolve) => socket.once("hello", resolve));
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("connect_error", reject);
    });
    return Object.assign(socket, { hello });
  }

  const closedBy = (socket: ReturnType<typeof io>) => new Promise<string>((resolve) => socket.once("disconnect", (reason) => resolve(reason)));

  it("refuses a 70 KiB frame before authentication and keeps serving", async () => {
    const socket = await rawSocket(AGENT_NAMESPACE);
    const closed = closedBy(socket);
    socket.emit("authenticate", { mode: "key", agentId: "x".repeat(70 * 1024), signature: "s".repeat(16), info: {} });
    expect(await closed).toMatch(/^transport (close|error)$/);
    // The server is still there for everyone else.
    const next = await rawSocket(AGENT_NAMESPACE);
    expect(await next.hello).toMatchObject({ protocolVersion: expect.any(Number) });
    next.disconnect();
    expect(agent.process.exitCode, "the real agent is unaffected").toBeNull();
    expect(t.server.hub.isConnected(hostId)).toBe(true);
  });

  it("refuses a 64 MiB frame", async () => {
    const socket = await rawSocket(AGENT_NAMESPACE);
    const closed = closedBy(socket);
    socket.emit("inventory:snapshot", "x".repeat(64 * 1024 * 1024));
    // The websocket layer refuses it from its header; the client may notice as a close or a missed ping.
    expect(await closed).toMatch(/^(transport close|transport error|ping timeout)$/);
    const health = await fetch(`${t.url}/api/trpc/auth.me`);
    expect(health.status).toBeLessThan(500);
  });

  it("keeps browser frames small too", async () => {
    const socket = await rawSocket(BROWSER_NAMESPACE, { cookie: users.alice.cookie, origin: t.url });
    const closed = closedBy(socket);
    socket.emit(ClientEvent.logsOpen, { hostId, containerId: "y".repeat(70 * 1024) });
    expect(await closed).toMatch(/^transport (close|error)$/);
  });

  it("answers a batch of 100 tRPC calls with a 400, before any of them runs", async () => {
    const before = await t.server.db.auditEvent.count();
    const paths = Array.from({ length: 100 }, () => "hosts.list").join(",");
    const input = JSON.stringify(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [i, {}])));
    const response = await fetch(`${t.url}/api/trpc/${paths}?batch=1&input=${encodeURIComponent(input)}`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain("Batch call exceeds maximum size");
    expect(await t.server.db.auditEvent.count(), "no call ran, so none was recorded").toBe(before);
    // A batch within the limit still works.
    const small = await fetch(`${t.url}/api/trpc/hosts.list,hosts.list?batch=1&input=${encodeURIComponent('{"0":{},"1":{}}')}`, { headers: { cookie: users.alice.cookie } });
    expect(small.status).toBe(200);
  });
});
