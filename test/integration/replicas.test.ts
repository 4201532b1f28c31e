/**
 * Two Berth server replicas on one Postgres. The agent is connected to the
 * first; a browser talking to the second still acts on its containers, still
 * sees live changes, and follows logs and opens terminals whose frames the
 * first relays (server/gateway/stream-relay.ts).
 */
import { readFileSync, statSync } from "node:fs";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { Server as SocketServer } from "socket.io";
import { io } from "socket.io-client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOG_BATCH_MAX_LINES, STREAM_WINDOW_FRAMES, TERMINAL_INPUT_MAX_CHARS, type StreamData, type StreamType, type TLogLine } from "../../agent/protocol.ts";
import type { AppError } from "../../server/errors.ts";
import { ClientEvent, ServerEvent, type TLogsData, type TLogsEnd, type TTerminalData } from "../../server/gateway/browser-protocol.ts";
import { deriveReplicaKey, REPLICA_NAMESPACE, RelayEvent, replicaHandshake, StreamRelay } from "../../server/gateway/stream-relay.ts";
import type { OpenStream, StreamSink } from "../../server/services/agent-link.ts";
import { createHost } from "../../server/services/hosts.ts";
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
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

/** Replicas of one deployment share BERTH_SECRET (sessions, the agents' pinned key, the relay's handshake). */
const SHARED_SECRET = "shared-secret-for-both-replicas-0123456789";
const LINES = 20_000;

const LABEL = "berth.test=replicas";
const suffix = Math.random().toString(36).slice(2, 8);
let first: TestServer;
let second: TestServer;
let agent: TestAgent;
let admin: TestUser;
let hostId: string;
let containerId: string;
/** Prints 1..LINES, then stays up (a log to follow to its end and beyond). */
let counter: string;
/** Prints a line every 20 ms (a live log to follow; the flow-control test makes its own flood, briefly). */
let ticker: string;
const sockets: BrowserTestSocket[] = [];
let third: TestServer | undefined;
let thirdAgent: TestAgent | undefined;
let fakeHolder: SocketServer | undefined;

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  containerId = await runTestContainer({ name: `replica-${suffix}`, labels: { "berth.test": "replicas" } });
  counter = await runTestContainer({ name: `replica-counter-${suffix}`, labels: { "berth.test": "replicas" }, cmd: ["sh", "-c", `seq 1 ${LINES}; exec sleep 3600`] });
  ticker = await runTestContainer({
    name: `replica-ticker-${suffix}`,
    labels: { "berth.test": "replicas" },
    cmd: ["sh", "-c", 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.02; done'],
  });
  first = await startTestServer({ name: "replicas", env: { BERTH_SECRET: SHARED_SECRET } });
  second = await startTestServer({ database: first.database, env: { BERTH_SECRET: SHARED_SECRET } });
  const join = await createHost({ db: first.server.db, bus: first.server.deps.bus, name: "shared", ttlMinutes: 5, serverUrl: first.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: first.url, joinToken: join.token });
  await waitForSnapshot(first.server, hostId);
  admin = await createSignedInUser(second.server, { role: "admin" });
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await new Promise<void>((resolve) => (fakeHolder ? fakeHolder.close(() => resolve()) : resolve()));
  await thirdAgent?.kill();
  await third?.stop();
  await agent?.kill();
  await second?.stop();
  await first?.stop();
  await removeContainersByLabel(LABEL);
});


const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rssBytes(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(match?.[1] ?? 0) * 1024;
}

async function socketFor(server: TestServer, user: TestUser) {
  const socket = await connectBrowserSocket(server.url, { cookie: user.cookie });
  sockets.push(socket);
  return socket;
}

/** Opens a log as a page does and collects its frames; `ack: false` is a reader that never acknowledges. */
async function openLog(socket: BrowserTestSocket, input: Record<string, unknown>, opts: { ack?: boolean } = {}) {
  const lines: TLogLine[] = [];
  let frames = 0;
  let ended: { reason: string | null } | null = null;
  let id: string | null = null;
  const early: TLogsData[] = [];
  const endedEarly = new Map<string, string | null>();
  const take = (data: TLogsData) => {
    frames++;
    lines.push(...data.lines);
    if (opts.ack !== false) socket.emit(ClientEvent.logsAck, { subscriptionId: data.subscriptionId, seq: data.seq });
  };
  socket.on(ServerEvent.logsData, (data: TLogsData) => {
    if (id === null) early.push(data);
    else if (data.subscriptionId === id) take(data);
  });
  socket.on(ServerEvent.logsEnd, (end: TLogsEnd) => {
    if (id === null) endedEarly.set(end.subscriptionId, end.reason);
    else if (end.subscriptionId === id) ended = { reason: end.reason };
  });
  const ack = await emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.logsOpen, input);
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

/** A reader of an AgentLink stream (what a service holds), acknowledging each frame unless told not to. */
function linkReader<T extends StreamType>(opts: { ack?: boolean } = {}) {
  const frames: Array<{ data: StreamData<T>; seq: number }> = [];
  let ended: { error: AppError | null } | null = null;
  let stream: OpenStream | null = null;
  const sink: StreamSink<T> = {
    data: (data, seq) => {
      frames.push({ data, seq });
      if (opts.ack !== false) stream?.ack(seq);
    },
    end: (error) => {
      ended = { error };
    },
  };
  return {
    sink,
    frames,
    ended: () => ended as { error: AppError | null } | null,
    attach(open: OpenStream) {
      stream = open;
      if (opts.ack !== false && frames.length > 0) open.ack(frames[frames.length - 1]!.seq);
      return open;
    },
    /** A terminal's output so far, as text. */
    text: () =>
      Buffer.concat(frames.flatMap((f) => ("bytes" in (f.data as object) ? [Buffer.from((f.data as { bytes: Uint8Array }).bytes)] : []))).toString("utf8"),
  };
}

/** The id of the replica holding the agent (the first one). */
async function holderId(id = hostId): Promise<string> {
  const host = await first.server.db.host.findUniqueOrThrow({ where: { id }, select: { presenceServerId: true } });
  return host.presenceServerId!;
}

describe("replicas sharing one Postgres", () => {
  it("forwards an action to the replica holding the agent", async () => {
    expect(second.server.hub.isConnected(hostId)).toBe(false);
    const caller = await callerFor(second.server, admin);
    await caller.containers.stop({ hostId, containerId });
    expect(await dockerCli(["inspect", "-f", "{{.State.Status}}", containerId])).toBe("exited");
    await expect(caller.containers.start({ hostId, containerId: "e".repeat(64) })).rejects.toMatchObject({ code: "NOT_FOUND" });
    await caller.containers.start({ hostId, containerId });
    expect(await dockerCli(["inspect", "-f", "{{.State.Status}}", containerId])).toBe("running");
  });

  it("delivers live events from the agent's replica to subscribers on the other", async () => {
    const abort = new AbortController();
    const caller = await callerFor(second.server, admin, { signal: abort.signal });
    const stream = (await caller.hosts.onChange()) as AsyncIterable<{ type: string; hostId: string }>;
    const iterator = stream[Symbol.asyncIterator]();
    const seen: string[] = [];
    const reading = (async () => {
      for (;;) {
        const next = await iterator.next();
        if (next.done) return;
        // Each item is a tracked envelope: [id, event, marker].
        const [, event] = next.value as unknown as [string, { type: string; hostId: string }];
        seen.push(`${event.type}:${event.hostId}`);
      }
    })();
    await dockerCli(["stop", "-t", "1", containerId]);
    await waitFor(() => seen.includes(`inventory.changed:${hostId}`), { timeoutMs: 5000, what: "event on the second replica" });
    abort.abort(); // what a closing browser tab does
    await reading.catch(() => undefined);
  });

  it("relays a log followed by a browser on the other replica: every line, in order; closing closes it at the agent", async () => {
    expect(second.server.hub.isConnected(hostId)).toBe(false);
    const socket = await socketFor(second, admin);
    const log = await openLog(socket, { hostId, containerId: counter, tail: null, follow: true });
    await waitFor(() => log.lines.length >= LINES, { timeoutMs: 60_000, what: `${LINES} lines on the second replica` });
    // The oracle is Docker's own log (which is 1..LINES: checked too, so a broken oracle cannot agree with a broken relay).
    const expected = (await dockerCli(["logs", counter], { timeoutMs: 60_000 })).split("\n");
    expect(expected).toEqual(Array.from({ length: LINES }, (_, i) => String(i + 1)));
    expect(log.lines.map((line) => line.text)).toEqual(expected);
    expect(log.ended(), "still following").toBeNull();
    // Opened at the agent through the first replica, relayed to the second.
    expect(first.server.hub.openStreamsOfType("container.logs")).toBe(1);
    expect(first.server.relay!.counts().relayedOut).toBe(1);
    expect(second.server.relay!.counts().relayedIn).toBe(1);
    expect(await log.close()).toMatchObject({ ok: true });
    await waitFor(
      () => first.server.hub.openStreamsOfType("container.logs") === 0 && first.server.relay!.counts().relayedOut === 0 && second.server.relay!.counts().relayedIn === 0,
      { what: "the stream closed on both replicas and at the agent" },
    );
  });

  it("a reader on the browser's replica that stops acknowledging pauses the log at its source; acknowledging resumes it", async () => {
    // Only while this test runs: two cores are shared, and a flood fills the disk with its log.
    const flood = await runTestContainer({
      name: `replica-flood-${suffix}`,
      labels: { "berth.test": "replicas" },
      cmd: ["yes", "flood line padded to look like a real log line of a busy service"],
    });
    await waitFor(() => second.server.db.container.findFirst({ where: { hostId, dockerId: flood } }), { what: "the flood container in the mirror" });
    const socket = await socketFor(second, admin);
    const rssBefore = rssBytes(agent.process.pid!);
    const log = await openLog(socket, { hostId, containerId: flood, tail: 0, follow: true }, { ack: false });
    await waitFor(() => log.frames() >= STREAM_WINDOW_FRAMES, { what: "a window of frames" });
    await sleep(2_500);
    const stalled = log.lines.length;
    expect(log.frames()).toBeLessThanOrEqual(STREAM_WINDOW_FRAMES);
    expect(stalled).toBeLessThanOrEqual(STREAM_WINDOW_FRAMES * LOG_BATCH_MAX_LINES);
    // One window in flight at every hop: agent → first replica, first → second.
    expect(first.server.hub.streamBacklog.length).toBe(1);
    expect(Math.max(...first.server.hub.streamBacklog)).toBeLessThanOrEqual(STREAM_WINDOW_FRAMES);
    expect(second.server.relay!.relayBacklog.length).toBe(1);
    expect(Math.max(...second.server.relay!.relayBacklog)).toBeLessThanOrEqual(STREAM_WINDOW_FRAMES);
    // Docker's json-file log kept growing meanwhile, far past what reached the page.
    const { size } = statSync(await dockerCli(["inspect", "--format", "{{.LogPath}}", flood]));
    expect(size, "the container wrote far more than one window meanwhile").toBeGreaterThan(stalled * 100 * 10);
    expect(rssBytes(agent.process.pid!) - rssBefore, "the agent did not buffer the flood").toBeLessThan(64 * 1024 * 1024);
    await sleep(1_000);
    expect(log.lines.length, "still paused").toBe(stalled);
    socket.emit(ClientEvent.logsAck, { subscriptionId: log.id, seq: log.frames() });
    await waitFor(() => log.lines.length > stalled, { what: "lines after the ack" });
    await log.close();
    await waitFor(() => first.server.hub.openStreamsOfType("container.logs") === 0 && second.server.relay!.counts().relayedIn === 0, {
      what: "the stream closed",
    });
    await dockerCli(["rm", "-f", flood]);
  });

  it("relays a terminal (container.exec) both ways: input typed on one replica reaches the shell, its echo comes back as bytes", async () => {
    const term = linkReader<"container.exec">();
    const params = { containerId: counter, cmd: ["sh"], user: "", workingDir: "", env: [], cols: 80, rows: 24 };
    const stream = term.attach(await second.server.hub.openStream(hostId, "container.exec", params, term.sink));
    expect(second.server.hub.openStreamsOfType("container.exec"), "not opened on the second replica").toBe(0);
    expect(first.server.hub.openStreamsOfType("container.exec")).toBe(1);
    stream.send({ kind: "stdin", data: "echo hi\r" });
    // The TTY echoes the command line, then the shell prints its output.
    await waitFor(() => /echo hi\r\nhi\r\n/.test(term.text()), { what: `the echo (got ${JSON.stringify(term.text())})` });
    stream.send({ kind: "resize", cols: 101, rows: 31 });
    stream.send({ kind: "stdin", data: "stty size\r" });
    await waitFor(() => term.text().includes("31 101"), { what: "the new size inside" });
    stream.send({ kind: "stdin", data: "exit 7\r" });
    await waitFor(() => term.ended(), { what: "the end of the session" });
    expect(term.ended()!.error).toBeNull();
    expect(term.frames.length).toBeGreaterThan(1);
    expect(term.frames.slice(0, -1).every((f) => "bytes" in f.data && f.data.bytes instanceof Uint8Array)).toBe(true);
    expect(term.frames.at(-1)!.data).toEqual({ exitCode: 7 });
    expect(term.frames.map((f) => f.seq)).toEqual(term.frames.map((_, i) => i + 1));
    await waitFor(() => first.server.relay!.counts().relayedOut === 0, { what: "nothing relayed any more" });
  });

  it("opens a browser terminal (terminal:open) on the other replica: typed there, run at the agent's, recorded for any replica to replay", async () => {
    const socket = await connectBrowserSocket(second.url, { cookie: admin.cookie });
    sockets.push(socket);
    let text = "";
    let end: { reason: string | null; exitCode: number | null } | null = null;
    socket.on(ServerEvent.terminalData, (frame: TTerminalData) => {
      // A small frame of valid UTF-8 comes as text.
      text += "text" in frame ? frame.text : Buffer.from(frame.bytes instanceof Uint8Array ? frame.bytes : new Uint8Array(frame.bytes)).toString("utf8");
      socket.emit(ClientEvent.terminalAck, { terminalId: frame.terminalId, seq: frame.seq });
    });
    socket.on(ServerEvent.terminalEnd, (e: { reason: string | null; exitCode: number | null }) => (end = e));
    const opened = await emitWithAck<{ terminalId: string; sessionId: string }>(socket, ClientEvent.terminalOpen, { hostId, containerId: counter, cmd: ["sh"] });
    if (!opened.ok) throw new Error(`terminal:open refused: ${opened.message}`);
    expect(first.server.hub.openStreamsOfType("container.exec"), "the exec runs on the agent's replica").toBe(1);
    await emitWithAck(socket, ClientEvent.terminalInput, { terminalId: opened.terminalId, data: "echo across-$((40+2))\r" });
    await waitFor(() => text.includes("across-42"), { what: `the output on the browser's replica (got ${JSON.stringify(text)})` });
    await emitWithAck(socket, ClientEvent.terminalInput, { terminalId: opened.terminalId, data: "exit\r" });
    await waitFor(() => end, { what: "the end" });
    expect(end).toMatchObject({ reason: null, exitCode: 0 });
    // Written by the browser's replica, readable from the agent's.
    await waitFor(async () => (await first.server.db.terminalSession.findUnique({ where: { id: opened.sessionId }, select: { endedAt: true } }))?.endedAt, { what: "closed" });
    const cast = await (await fetch(`${first.url}/api/terminal-recording?sessionId=${opened.sessionId}`, { headers: { cookie: admin.cookie } })).text();
    expect(cast).toContain("across-42");
  });

  it("relays the largest paste a terminal takes (a replica-to-replica frame over the 64 KiB page limit)", async () => {
    const term = linkReader<"container.exec">();
    // Raw mode: the line discipline would cut a line at 4 KiB; the process counts what reaches its stdin.
    const cmd = ["sh", "-c", `stty raw -echo; echo ready; head -c ${TERMINAL_INPUT_MAX_CHARS} | wc -c`];
    const params = { containerId: counter, cmd, user: "", workingDir: "", env: [], cols: 80, rows: 24 };
    const stream = term.attach(await second.server.hub.openStream(hostId, "container.exec", params, term.sink));
    await waitFor(() => term.text().includes("ready"), { what: "the terminal in raw mode" });
    stream.send({ kind: "stdin", data: "x".repeat(TERMINAL_INPUT_MAX_CHARS) });
    await waitFor(() => term.ended(), { what: `the end of the session (got ${JSON.stringify(term.text().slice(-200))})` });
    expect(term.ended()!.error).toBeNull();
    expect(term.text()).toMatch(new RegExp(`ready\\s+${TERMINAL_INPUT_MAX_CHARS}\\s*$`));
  });

  it("relays live stats as well (the stats fan-out on the browser's replica opens its one stream there)", async () => {
    const reader = linkReader<"container.stats">();
    const stream = reader.attach(await second.server.hub.openStream(hostId, "container.stats", { containerId: counter }, reader.sink));
    await waitFor(() => reader.frames.length >= 2, { timeoutMs: 20_000, what: "two samples" });
    expect(first.server.hub.openStreamsOfType("container.stats")).toBe(1);
    // `sleep` and the init process: what `docker top` lists is what the sample counts.
    const processes = (await dockerCli(["top", counter])).split("\n").length - 1;
    expect(reader.frames.at(-1)!.data.pids).toBe(processes);
    stream.close();
    expect(reader.ended()).toEqual({ error: null });
    await waitFor(() => first.server.hub.openStreamsOfType("container.stats") === 0, { what: "the stats stream closed at the agent" });
  });

  it("when the asking replica goes away, the agent's replica closes the agent stream", async () => {
    const reader = linkReader<"container.logs">();
    reader.attach(
      await second.server.hub.openStream(hostId, "container.logs", { containerId: ticker, tail: 0, since: null, until: null, follow: true, markers: false }, reader.sink),
    );
    await waitFor(() => reader.frames.length > 0, { what: "frames" });
    expect(first.server.hub.openStreamsOfType("container.logs")).toBe(1);
    second.server.relay!.dropPeerConnections(); // what the first replica sees when the second crashes
    await waitFor(() => reader.ended(), { what: "the asker's end" });
    expect(reader.ended()!.error).toMatchObject({ code: "HOST_OFFLINE", message: expect.stringMatching(/went away/) });
    await waitFor(() => first.server.hub.openStreamsOfType("container.logs") === 0 && first.server.relay!.counts().relayedOut === 0, {
      what: "the agent stream closed on the holder",
    });
    // The next open dials again.
    const again = linkReader<"container.logs">();
    const stream = again.attach(
      await second.server.hub.openStream(hostId, "container.logs", { containerId: counter, tail: 2, since: null, until: null, follow: false, markers: false }, again.sink),
    );
    await waitFor(() => again.ended(), { what: "a short log through a new connection" });
    expect(again.frames.flatMap((f) => f.data.lines.map((l) => l.text))).toEqual([String(LINES - 1), String(LINES)]);
    stream.close();
  });

  it("refuses a replica connection without the shared secret, for another replica, stale or replayed; malformed frames are answered, not obeyed", async () => {
    const target = await holderId();
    const connect = (auth: unknown) =>
      new Promise<ReturnType<typeof io>>((resolve, reject) => {
        const socket = io(first.url + REPLICA_NAMESPACE, { transports: ["websocket"], reconnection: false, auth: auth as Record<string, unknown> });
        socket.once("connect", () => resolve(socket));
        socket.once("connect_error", (error) => {
          socket.close();
          reject(error);
        });
      });
    const key = deriveReplicaKey(SHARED_SECRET);
    await expect(connect({})).rejects.toThrow("Not a Berth replica");
    await expect(connect(replicaHandshake(deriveReplicaKey("some-other-deployment-secret-0123456789"), "intruder", target))).rejects.toThrow("Not a Berth replica");
    await expect(connect(replicaHandshake(key, "peer", "another-replica"))).rejects.toThrow("Not a Berth replica");
    await expect(connect(replicaHandshake(key, "peer", target, Date.now() - 120_000))).rejects.toThrow("Not a Berth replica");
    const forged = { ...replicaHandshake(key, "peer", target), serverId: "someone-else" };
    await expect(connect(forged)).rejects.toThrow("Not a Berth replica");
    const auth = replicaHandshake(key, "test-peer", target);
    const peer = await connect(auth);
    await expect(connect(auth), "a replayed handshake").rejects.toThrow("Not a Berth replica");
    try {
      const ask = (payload: unknown) => peer.timeout(30_000).emitWithAck(RelayEvent.open, payload) as Promise<{ ok: boolean; error?: { code: string } }>;
      expect(await ask("not an object")).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
      expect(await ask({ relayId: "r1", hostId, type: "container.exec.raw", params: {} })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
      expect(await ask({ relayId: "r1", hostId, type: "__proto__", params: {} })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
      expect(await ask({ relayId: "r1", hostId, type: "container.logs", params: { containerId: 42 } })).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
      expect(await ask({ relayId: "r1", hostId: "no-such-host", type: "container.logs", params: { containerId: counter, tail: 1, follow: false } })).toMatchObject({
        ok: false,
        error: { code: "HOST_OFFLINE" },
      });
      for (const event of [RelayEvent.ack, RelayEvent.input, RelayEvent.close]) {
        peer.emit(event, { relayId: 5, seq: "x" });
        peer.emit(event, null);
      }
      expect(await peer.timeout(10_000).emitWithAck("relay:exec-raw", {})).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
      // Still serving, and a well-formed open is obeyed.
      const lines: string[] = [];
      let end: unknown = undefined;
      peer.on(RelayEvent.data, (frame: { data: { lines: TLogLine[] } }) => lines.push(...frame.data.lines.map((l) => l.text)));
      peer.on(RelayEvent.end, (frame: { error: unknown }) => (end = frame.error));
      expect(await ask({ relayId: "r2", hostId, type: "container.logs", params: { containerId: counter, tail: 3, follow: false } })).toEqual({ ok: true });
      await waitFor(() => end !== undefined, { what: "the relayed end" });
      expect(end).toBeNull();
      expect(lines).toEqual([String(LINES - 2), String(LINES - 1), String(LINES)]);
    } finally {
      peer.close();
    }
  });

  it("an asker that goes silent (no pongs, no FIN) has its relayed stream closed at the agent once socket.io's ping times out", async () => {
    const peer = io(first.url + REPLICA_NAMESPACE, {
      transports: ["websocket"],
      reconnection: false,
      auth: replicaHandshake(deriveReplicaKey(SHARED_SECRET), "silent-peer", await holderId()),
    });
    await new Promise((resolve, reject) => {
      peer.once("connect", () => resolve(undefined));
      peer.once("connect_error", reject);
    });
    let frames = 0;
    peer.on(RelayEvent.data, () => frames++);
    const params = { containerId: ticker, tail: 0, follow: true };
    expect(await peer.timeout(10_000).emitWithAck(RelayEvent.open, { relayId: "silent", hostId, type: "container.logs", params })).toEqual({ ok: true });
    await waitFor(() => frames > 0, { what: "relayed frames" });
    expect(first.server.relay!.counts().relayedOut).toBe(1);
    expect(first.server.hub.openStreamsOfType("container.logs")).toBe(1);
    // Stop reading the TCP connection: the peer answers no ping and sends no FIN, as a frozen or cut-off replica.
    const tcp = (peer.io.engine.transport as unknown as { ws: { _socket: Socket } }).ws._socket;
    tcp.pause();
    try {
      await waitFor(() => first.server.relay!.counts().relayedOut === 0 && first.server.hub.openStreamsOfType("container.logs") === 0, {
        timeoutMs: 30_000,
        what: "the agent stream closed after the ping timeout",
      });
    } finally {
      tcp.destroy();
      peer.close();
    }
  });

  it("a holder whose stream ended before the agent's \"started\" was processed still answers the open: frames and end first, in order", async () => {
    // Under load the agent's frames and end can be handled before its answer to stream:open (one socket read).
    // A holder whose local open reports exactly that, deterministically:
    const httpServer = http.createServer();
    const holderIo = new SocketServer(httpServer, { serveClient: false });
    const holder = new StreamRelay({
      db: second.server.db,
      serverId: `early-end-holder-${suffix}`,
      secret: SHARED_SECRET,
      internalUrl: () => "http://unused",
      openLocal: async (_hostId, _type, _params, sink) => {
        sink.data({ lines: [{ stream: "stdout", ts: "2026-01-01T00:00:00.000000000Z", text: "only line" }] }, 1);
        sink.end(null);
        return { close: () => undefined, ack: () => undefined, send: () => undefined };
      },
    });
    holder.attach(holderIo);
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", () => resolve()));
    const db = second.server.db;
    await db.serverReplica.create({ data: { id: `early-end-holder-${suffix}`, internalUrl: `http://127.0.0.1:${(httpServer.address() as AddressInfo).port}` } });
    const host = await db.host.create({
      data: { name: `early-end-${suffix}`, status: "ONLINE", presenceServerId: `early-end-holder-${suffix}`, lastSeenAt: new Date() },
      select: { id: true },
    });
    try {
      const reader = linkReader<"container.logs">();
      const params = { containerId: counter, tail: 1, since: null, until: null, follow: false, markers: false };
      reader.attach(await second.server.hub.openStream(host.id, "container.logs", params, reader.sink));
      expect(reader.frames.map((f) => f.data.lines.map((l) => l.text))).toEqual([["only line"]]);
      expect(reader.ended()).toEqual({ error: null });
    } finally {
      await db.host.delete({ where: { id: host.id } });
      await db.serverReplica.delete({ where: { id: `early-end-holder-${suffix}` } });
      await new Promise<void>((resolve) => holderIo.close(() => resolve()));
    }
  });

  it("a holder relaying malformed, reordered or unpaced frames has its stream cut with a reason; nothing unchecked reaches the reader; a silent one is given up", async () => {
    // A replica that answers like a holder and then misbehaves, as a compromised or buggy one could.
    const httpServer = http.createServer();
    // Short pings, so a holder that goes silent is noticed within about 2 s.
    fakeHolder = new SocketServer(httpServer, { serveClient: false, pingInterval: 1_000, pingTimeout: 1_000 });
    fakeHolder.of(REPLICA_NAMESPACE).on("connection", (socket) => {
      socket.on(RelayEvent.open, (open: { relayId: string; params: { cmd: string[] } }, reply: (r: unknown) => void) => {
        reply({ ok: true });
        const { relayId } = open;
        const bytes = (text: string) => Buffer.from(text);
        switch (open.params.cmd[0]) {
          case "bad-bytes":
            return void socket.emit(RelayEvent.data, { relayId, seq: 1, data: { bytes: "not binary" } });
          case "too-big":
            return void socket.emit(RelayEvent.data, { relayId, seq: 1, data: { bytes: Buffer.alloc(65_537) } });
          case "skip":
            socket.emit(RelayEvent.data, { relayId, seq: 1, data: { bytes: bytes("one") } });
            return void socket.emit(RelayEvent.data, { relayId, seq: 3, data: { bytes: bytes("three") } });
          case "freeze": {
            // One frame, then silence: no more pings, no FIN (a frozen process, a cut network).
            socket.emit(RelayEvent.data, { relayId, seq: 1, data: { bytes: bytes("last words") } });
            const engine = socket.conn as unknown as { pingIntervalTimer: NodeJS.Timeout | null; pingTimeoutTimer: NodeJS.Timeout | null };
            clearTimeout(engine.pingIntervalTimer ?? undefined);
            clearTimeout(engine.pingTimeoutTimer ?? undefined);
            engine.pingIntervalTimer = null;
            engine.pingTimeoutTimer = null;
            return;
          }
          case "unpaced":
            for (let seq = 1; seq <= STREAM_WINDOW_FRAMES * 3; seq++) socket.emit(RelayEvent.data, { relayId, seq, data: { bytes: bytes(".") } });
            return;
          default:
            socket.emit(RelayEvent.data, "garbage");
            socket.emit(RelayEvent.data, { relayId, seq: "1" });
            socket.emit(RelayEvent.end, { relayId, error: { code: 42 } });
            socket.emit(RelayEvent.data, { relayId, seq: 1, data: { bytes: bytes("ok") } });
            return void socket.emit(RelayEvent.end, { relayId, error: null });
        }
      });
    });
    await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", () => resolve()));
    const port = (httpServer.address() as AddressInfo).port;
    const db = second.server.db;
    await db.serverReplica.create({ data: { id: `fake-holder-${suffix}`, internalUrl: `http://127.0.0.1:${port}` } });
    const fakeHost = await db.host.create({
      data: { name: `fake-held-${suffix}`, status: "ONLINE", presenceServerId: `fake-holder-${suffix}`, lastSeenAt: new Date() },
      select: { id: true },
    });
    try {
      const run = async (cmd: string) => {
        const reader = linkReader<"container.exec">({ ack: false });
        const params = { containerId: "whatever", cmd: [cmd], user: "", workingDir: "", env: [], cols: 80, rows: 24 };
        reader.attach(await second.server.hub.openStream(fakeHost.id, "container.exec", params, reader.sink));
        await waitFor(() => reader.ended(), { what: `the end of "${cmd}"` });
        return { frames: reader.frames, error: reader.ended()!.error };
      };
      const bad = await run("bad-bytes");
      expect(bad.frames).toEqual([]);
      expect(bad.error).toMatchObject({ code: "INTERNAL", message: expect.stringMatching(/malformed stream data/) });
      const big = await run("too-big");
      expect(big.frames).toEqual([]);
      expect(big.error).toMatchObject({ code: "INTERNAL", message: expect.stringMatching(/malformed stream data/) });
      const skip = await run("skip");
      expect(skip.frames.map((f) => f.seq)).toEqual([1]);
      expect(skip.error).toMatchObject({ code: "INTERNAL", message: expect.stringMatching(/lost a frame/) });
      const unpaced = await run("unpaced");
      expect(unpaced.frames.length).toBe(STREAM_WINDOW_FRAMES * 2);
      expect(unpaced.error).toMatchObject({ code: "INTERNAL", message: expect.stringMatching(/flow-control window/) });
      // Garbage is dropped, the well-formed frames around it pass.
      const garbled = await run("garbage");
      expect(garbled.frames.map((f) => Buffer.from((f.data as { bytes: Uint8Array }).bytes).toString())).toEqual(["ok"]);
      expect(garbled.error).toBeNull();
      // A holder that goes silent: the stream ends with a reason once socket.io's ping times out.
      const frozen = await run("freeze");
      expect(frozen.frames.length).toBe(1);
      expect(frozen.error).toMatchObject({ code: "HOST_OFFLINE", message: expect.stringMatching(/went away \(ping timeout\)/) });
    } finally {
      await db.host.delete({ where: { id: fakeHost.id } });
      await db.serverReplica.delete({ where: { id: `fake-holder-${suffix}` } });
    }
  });

  it("when the agent's replica stops, a stream relayed from it ends with a reason", async () => {
    third = await startTestServer({ database: first.database, env: { BERTH_SECRET: SHARED_SECRET } });
    const join = await createHost({ db: third.server.db, bus: third.server.deps.bus, name: `third-${suffix}`, ttlMinutes: 5, serverUrl: third.url });
    thirdAgent = await startTestAgent({ serverUrl: third.url, joinToken: join.token });
    await waitForSnapshot(third.server, join.hostId);
    await waitFor(() => second.server.db.container.findFirst({ where: { hostId: join.hostId, dockerId: ticker } }), { what: "the ticker on the third host" });
    const socket = await socketFor(second, admin);
    const log = await openLog(socket, { hostId: join.hostId, containerId: ticker, tail: 0, follow: true });
    await waitFor(() => log.frames() > 0, { what: "frames relayed from the third replica" });
    expect(third.server.relay!.counts().relayedOut).toBe(1);
    await third.stop();
    third = undefined;
    await waitFor(() => log.ended(), { what: "the end on the second replica" });
    expect(log.ended()!.reason).toMatch(/shutting down|went away|disconnected/);
    expect(second.server.relay!.counts().relayedIn).toBe(0);
  });

  it("reports an offline host at once instead of waiting for a timeout", async () => {
    await agent.kill("SIGKILL");
    await waitFor(async () => (await second.server.db.host.findUniqueOrThrow({ where: { id: hostId } })).status === "OFFLINE", { timeoutMs: 15_000 });
    const caller = await callerFor(second.server, admin);
    await expect(caller.containers.start({ hostId, containerId })).rejects.toThrow(/not connected/);
  });
});
