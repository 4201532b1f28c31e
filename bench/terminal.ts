/**
 * Terminal benchmark: what a Berth terminal costs against Docker exec direct.
 *
 *   node --import tsx bench/terminal.ts [--keys 1000] [--echo-reps 3] [--warmup 200] [--mb 50]
 *
 * On the real dockerd and Postgres, with a real agent process and a real
 * server, one container, in the same run:
 *   - keystroke echo round trip: one byte typed, the TTY's echo back. Berth:
 *     a socket.io client signed in with a real session → server → agent →
 *     Docker exec (TTY) and back. Direct: dockerode's exec with a TTY on the
 *     same container, from this process. Goal p50 ≤ 4×, p99 ≤ 10×. Keys
 *     go one at a time, each after the last echo; blocks of them alternate
 *     between the two paths (see the loop for why).
 *   - bulk output: `head -c <mb>MB` in raw mode through each path, the client
 *     acknowledging frames as they arrive (as xterm's write callback does).
 *     Goal ≥ 0.5× the direct throughput.
 * Results go to bench/results/terminal-<timestamp>.json.
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import { createDockerClient } from "../agent/docker/client.ts";
import { ClientEvent, ServerEvent, type TTerminalData, type TTerminalEnd, type TTerminalOpened } from "../server/gateway/browser-protocol.ts";
import { createHost } from "../server/services/hosts.ts";
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
} from "../test/infra/berth.ts";
import { buildTestImages, dockerCli, TEST_IMAGE } from "../test/infra/docker.ts";
import { removeLabelledContainers } from "./lib/containers.ts";
import { fmtMs, fmtRatio, intArg, sleep, table, writeResults } from "./lib/stats.ts";

const KEYS = intArg("keys", 1000);
/** Blocks of KEYS keys per path, alternating direct and Berth. */
const ECHO_REPS = intArg("echo-reps", 3);
/** Keys typed on each path before any is timed. */
const WARMUP_KEYS = intArg("warmup", 200);
const MB = intArg("mb", 50);
const LABEL = { key: "berth.bench", value: "terminal" };
const suffix = randomBytes(3).toString("hex");
/** The TTY echoes what is typed; nothing else writes (cat's output goes nowhere). */
const ECHO_CMD = ["sh", "-c", "stty raw; exec cat > /dev/null"];
const bulkCmd = (bytes: number) => ["sh", "-c", `stty raw -echo; head -c ${bytes} /dev/zero | tr '\\0' x`];

const docker = createDockerClient(process.env.DOCKER_SOCKET ?? "/var/run/docker.sock");
let server: TestServer | null = null;
let agent: TestAgent | null = null;
let socket: BrowserTestSocket | null = null;

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A byte source/sink pair abstracting "a terminal": Berth's socket or Docker's hijacked connection. */
type Pipe = { write(data: string): void; onBytes(listener: (count: number, bytes: Uint8Array) => void): void; done: Promise<string | null>; close(): void };

async function directPipe(containerId: string, cmd: string[]): Promise<Pipe> {
  const exec = await docker.getContainer(containerId).exec({ Cmd: cmd, AttachStdin: true, AttachStdout: true, AttachStderr: true, Tty: true });
  const connection = (await exec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
  const listeners: Array<(count: number, bytes: Uint8Array) => void> = [];
  connection.on("data", (chunk: Buffer) => listeners.forEach((listener) => listener(chunk.length, chunk)));
  return {
    write: (data) => void connection.write(data),
    onBytes: (listener) => void listeners.push(listener),
    done: new Promise((resolve) => connection.once("end", () => resolve(null)).once("close", () => resolve(null))),
    close: () => connection.destroy(),
  };
}

async function berthPipe(hostId: string, containerId: string, cmd: string[]): Promise<Pipe> {
  const s = socket!;
  const ack = await emitWithAck<TTerminalOpened>(s, ClientEvent.terminalOpen, { hostId, containerId, cmd, cols: 120, rows: 40 });
  if (!ack.ok) throw new Error(`terminal:open refused: ${ack.message}`);
  const terminalId = ack.terminalId;
  const listeners: Array<(count: number, bytes: Uint8Array) => void> = [];
  const onData = (frame: TTerminalData) => {
    if (frame.terminalId !== terminalId) return;
    // A small frame of valid UTF-8 comes as text: its UTF-8 encoding is the bytes.
    const bytes = "text" in frame ? Buffer.from(frame.text, "utf8") : frame.bytes instanceof Uint8Array ? frame.bytes : new Uint8Array(frame.bytes);
    listeners.forEach((listener) => listener(bytes.byteLength, bytes));
    // Acknowledged once taken, as the page's xterm write callback does (after the bytes are parsed).
    s.emit(ClientEvent.terminalAck, { terminalId, seq: frame.seq });
  };
  s.on(ServerEvent.terminalData, onData);
  const done = new Promise<string | null>((resolve) => {
    const onEnd = (end: TTerminalEnd) => {
      if (end.terminalId !== terminalId) return;
      s.off(ServerEvent.terminalEnd, onEnd);
      s.off(ServerEvent.terminalData, onData);
      resolve(end.reason);
    };
    s.on(ServerEvent.terminalEnd, onEnd);
  });
  return {
    write: (data) => void s.emit(ClientEvent.terminalInput, { terminalId, data }),
    onBytes: (listener) => void listeners.push(listener),
    done,
    close: () => void s.emit(ClientEvent.terminalClose, { terminalId }),
  };
}

/** Types one key at a time on a pipe and times each echo; `type` may be called again (the pipe stays open). */
function typist(pipe: Pipe) {
  let waiting: (() => void) | null = null;
  let arrived = 0; // when the echo came in (not when the typing loop got to run again)
  pipe.onBytes(() => {
    if (!waiting) return;
    arrived = performance.now();
    waiting();
    waiting = null;
  });
  return async (keys: number, warmup: number): Promise<number[]> => {
    const samples: number[] = [];
    for (let i = 0; i < warmup + keys; i++) {
      const echoed = new Promise<void>((resolve) => (waiting = resolve));
      const start = performance.now();
      pipe.write("k");
      await echoed;
      if (i >= warmup) samples.push(arrived - start);
    }
    return samples;
  };
}

async function bulk(pipe: Pipe, bytes: number): Promise<{ ms: number; received: number }> {
  let received = 0;
  let first = 0;
  pipe.onBytes((count) => {
    if (!first) first = performance.now();
    received += count;
  });
  const start = performance.now();
  // A session cut short (agent dropped, page too slow) is not a throughput figure: say why.
  const cut = await pipe.done;
  if (cut) console.log(`WARNING: the terminal ended early: ${cut}`);
  return { ms: performance.now() - start, received };
}

try {
  await buildTestImages();
  await removeLabelledContainers(docker, LABEL);
  const containerId = await dockerCli(["run", "-d", "--init", "--name", `bench-terminal-${suffix}`, "--label", `${LABEL.key}=${LABEL.value}`, TEST_IMAGE, "sleep", "3600"]);
  server = await startTestServer({ name: "bench_terminal" });
  const db = server.server.db;
  const team = await db.team.create({ data: { name: `bench-terminal-${suffix}` } });
  const user = await createSignedInUser(server.server, { role: "admin", email: `bench-terminal-${suffix}@example.test` });
  const join = await createHost({ db, bus: server.server.deps.bus, name: `bench-terminal-${suffix}`, teamIds: [team.id], ttlMinutes: 5, serverUrl: server.url });
  agent = await startTestAgent({ serverUrl: server.url, joinToken: join.token });
  await waitForSnapshot(server.server, join.hostId);
  await waitFor(() => db.container.findFirst({ where: { hostId: join.hostId, dockerId: containerId, state: "running" } }), { what: "the container", timeoutMs: 30_000 });
  socket = await connectBrowserSocket(server.url, { cookie: user.cookie });
  await sleep(2_000);

  // Both terminals stay open; blocks of keys alternate between them, so a machine whose speed drifts
  // during the run (a shared VM does) weighs on both paths alike. Each rep's ratio is of its own pair.
  const directPipeOpen = await directPipe(containerId, ECHO_CMD);
  const berthPipeOpen = await berthPipe(join.hostId, containerId, ECHO_CMD);
  const typeDirect = typist(directPipeOpen);
  const typeBerth = typist(berthPipeOpen);
  await sleep(300); // each shell's stty runs first
  const direct: number[] = [];
  const berth: number[] = [];
  const repRatios: number[] = [];
  for (let rep = 0; rep < ECHO_REPS; rep++) {
    // The first block of each path also warms it up (JIT, connections): those keys are not counted.
    const warmup = rep === 0 ? WARMUP_KEYS : 0;
    const d = await typeDirect(KEYS, warmup);
    const b = await typeBerth(KEYS, warmup);
    direct.push(...d);
    berth.push(...b);
    repRatios.push(percentile(b, 50) / percentile(d, 50));
  }
  directPipeOpen.close();
  berthPipeOpen.close();
  const stat = (samples: number[]) => ({ p50: percentile(samples, 50), p99: percentile(samples, 99) });
  const echo = { direct: stat(direct), berth: stat(berth) };
  const medianRepRatio = [...repRatios].sort((a, b) => a - b)[Math.floor(repRatios.length / 2)]!;

  const size = MB * 1024 * 1024;
  const bulkDirect = await bulk(await directPipe(containerId, bulkCmd(size)), size);
  const bulkBerth = await bulk(await berthPipe(join.hostId, containerId, bulkCmd(size)), size);
  const mbps = (r: { ms: number; received: number }) => r.received / 1024 / 1024 / (r.ms / 1000);

  console.log(`\nKeystroke echo round trip, ${ECHO_REPS} × ${KEYS} keys one at a time on each path (after ${WARMUP_KEYS} untimed)`);
  console.log(
    table(
      ["path", "p50", "p99", "p50 ratio", "p99 ratio"],
      [
        ["Docker exec direct (dockerode, TTY)", fmtMs(echo.direct.p50), fmtMs(echo.direct.p99), "1.00x", "1.00x"],
        ["Berth (browser socket → server → agent → exec)", fmtMs(echo.berth.p50), fmtMs(echo.berth.p99), fmtRatio(echo.berth.p50 / echo.direct.p50), fmtRatio(echo.berth.p99 / echo.direct.p99)],
      ],
    ),
  );
  console.log(`p50 ratio per rep: ${repRatios.map(fmtRatio).join(", ")} (median ${fmtRatio(medianRepRatio)})`);
  console.log(`goal: p50 ≤ 4x, p99 ≤ 10x`);
  console.log(`\nBulk output, ${MB} MiB in raw mode`);
  console.log(
    table(
      ["path", "received", "time", "throughput", "ratio"],
      [
        ["Docker exec direct", `${(bulkDirect.received / 1048576).toFixed(1)} MiB`, fmtMs(bulkDirect.ms), `${mbps(bulkDirect).toFixed(1)} MiB/s`, "1.00x"],
        ["Berth terminal", `${(bulkBerth.received / 1048576).toFixed(1)} MiB`, fmtMs(bulkBerth.ms), `${mbps(bulkBerth).toFixed(1)} MiB/s`, fmtRatio(mbps(bulkBerth) / mbps(bulkDirect))],
      ],
    ),
  );
  console.log(`goal: ≥ 0.5x`);
  if (bulkBerth.received !== size || bulkDirect.received !== size) console.log(`WARNING: expected ${size} bytes on each path (direct ${bulkDirect.received}, Berth ${bulkBerth.received})`);
  const file = await writeResults("terminal", {
    keys: KEYS,
    echoMs: echo,
    echoReps: ECHO_REPS,
    warmupKeys: WARMUP_KEYS,
    echoRatios: { p50: echo.berth.p50 / echo.direct.p50, p99: echo.berth.p99 / echo.direct.p99, p50PerRep: repRatios, p50MedianOfReps: medianRepRatio },
    bulk: { bytes: size, direct: bulkDirect, berth: bulkBerth, ratio: mbps(bulkBerth) / mbps(bulkDirect) },
  });
  console.log(`\nwritten to ${file}`);
} finally {
  socket?.disconnect();
  await agent?.kill();
  await server?.stop();
  await removeLabelledContainers(docker, LABEL);
}
