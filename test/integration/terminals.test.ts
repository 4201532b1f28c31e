/**
 * Exec and attach terminals end to end on real parts: a real dockerd running
 * the process, the real agent relaying its TTY, the server recording it, and
 * a socket.io client signed in with a real session cookie. Expected values
 * come from Docker itself (`docker exec` with the same options) or from what
 * the test typed, never from Berth's code.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ClientEvent, ServerEvent, type TTerminalData, type TTerminalEnd, type TTerminalOpened } from "../../server/gateway/browser-protocol.ts";
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

const LABEL = "berth.test=terminals";
const suffix = Math.random().toString(36).slice(2, 8);

let t: TestServer;
let agent: TestAgent;
let hostId = "";
let teamId = "";
const users = {} as Record<"admin" | "viewer" | "operator", TestUser>;
const containers = { shell: "", ticker: "", interactive: "" };
const sockets: BrowserTestSocket[] = [];

async function socketFor(user: TestUser) {
  const socket = await connectBrowserSocket(t.url, { cookie: user.cookie });
  sockets.push(socket);
  return socket;
}

/** One terminal as a page sees it: its bytes (acknowledged as they arrive unless `ack` is off) and its end. */
type Terminal = {
  id: string;
  sessionId: string;
  readOnly: boolean;
  text(): string;
  bytes(): number;
  end: TTerminalEnd | null;
  ackAll(): void;
  type(data: string): Promise<void>;
  resize(cols: number, rows: number): Promise<void>;
  /** Resolves once the screen shows `pattern` (after the given offset). */
  waitFor(pattern: RegExp, from?: number, what?: string): Promise<string>;
};

async function openTerminal(
  socket: BrowserTestSocket,
  event: string,
  input: Record<string, unknown>,
  opts: { ack?: boolean } = {},
): Promise<Terminal> {
  const decoder = new TextDecoder();
  let text = "";
  let bytes = 0;
  let lastSeq = 0;
  let pendingAck = 0;
  const state = { end: null as TTerminalEnd | null };
  const early: TTerminalData[] = [];
  let id = "";
  const onData = (frame: TTerminalData) => {
    if (!id) return void early.push(frame);
    if (frame.terminalId !== id) return;
    // A small frame of valid UTF-8 comes as text: its UTF-8 encoding is the bytes.
    const chunk = "text" in frame ? Buffer.from(frame.text, "utf8") : frame.bytes instanceof Uint8Array ? frame.bytes : new Uint8Array(frame.bytes);
    expect(frame.seq, "frames arrive in order, none missing").toBe(lastSeq + 1);
    lastSeq = frame.seq;
    bytes += chunk.byteLength;
    text += decoder.decode(chunk, { stream: true });
    if (opts.ack === false) pendingAck = frame.seq;
    else socket.emit(ClientEvent.terminalAck, { terminalId: id, seq: frame.seq });
  };
  socket.on(ServerEvent.terminalData, onData);
  socket.on(ServerEvent.terminalEnd, (end: TTerminalEnd) => {
    if (end.terminalId === id) state.end = end;
  });
  const ack = await emitWithAck<TTerminalOpened>(socket, event, { hostId, ...input });
  if (!ack.ok) throw Object.assign(new Error(`${event} refused: ${ack.code} ${ack.message}`), { code: ack.code });
  id = ack.terminalId;
  for (const frame of early.splice(0)) onData(frame);
  return {
    id,
    sessionId: ack.sessionId,
    readOnly: ack.readOnly,
    text: () => text,
    bytes: () => bytes,
    get end() {
      return state.end;
    },
    ackAll() {
      if (pendingAck) socket.emit(ClientEvent.terminalAck, { terminalId: id, seq: pendingAck });
    },
    async type(data) {
      const answer = await emitWithAck(socket, ClientEvent.terminalInput, { terminalId: id, data });
      expect(answer.ok).toBe(true);
    },
    async resize(cols, rows) {
      const answer = await emitWithAck(socket, ClientEvent.terminalResize, { terminalId: id, cols, rows });
      expect(answer.ok).toBe(true);
    },
    async waitFor(pattern, from = 0, what = String(pattern)) {
      await waitFor(() => pattern.test(text.slice(from)), { what: `${what} in the terminal; it shows: ${JSON.stringify(text.slice(-400))}` });
      return text.slice(from);
    },
  };
}

async function closeTerminal(socket: BrowserTestSocket, terminal: Terminal) {
  await emitWithAck(socket, ClientEvent.terminalClose, { terminalId: terminal.id });
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  containers.shell = await runTestContainer({ name: `term-shell-${suffix}`, labels: { "berth.test": "terminals" } });
  containers.ticker = await runTestContainer({
    name: `term-ticker-${suffix}`,
    labels: { "berth.test": "terminals" },
    cmd: ["sh", "-c", "i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 0.2; done"],
  });
  // `docker run -it`: a main process with a TTY and an open stdin, to attach to.
  containers.interactive = await dockerCli(["run", "-d", "-it", "--init", "--label", LABEL, "--name", `term-it-${suffix}`, "berth-test/busybox:latest", "sh"]);
  t = await startTestServer({ name: "terminals" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "terminals-team" } });
  teamId = team.id;
  users.admin = await createSignedInUser(t.server, { role: "admin", email: "admin@terminals.test" });
  users.viewer = await createSignedInUser(t.server, { email: "viewer@terminals.test" });
  users.operator = await createSignedInUser(t.server, { email: "operator@terminals.test" });
  await db.teamMember.createMany({
    data: [
      { teamId: team.id, userId: users.viewer.id, roleId: "role_viewer" },
      { teamId: team.id, userId: users.operator.id, roleId: "role_operator" },
    ],
  });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "terminals-host", teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  for (const id of Object.values(containers)) {
    await waitFor(() => db.container.findFirst({ where: { hostId, dockerId: id, state: "running" } }), { what: "the test containers running in the mirror" });
  }
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
});

describe("exec terminals", () => {
  it("runs the command as the user, in the directory, with the environment asked for: the same as docker exec", async () => {
    const expected = await dockerCli(["exec", "-u", "65534", "-w", "/tmp", "-e", "GREETING=hello there", containers.shell, "sh", "-c", 'echo "$(id -u)|$(pwd)|$GREETING"']);
    expect(expected).toBe("65534|/tmp|hello there");
    const socket = await socketFor(users.operator);
    const term = await openTerminal(socket, ClientEvent.terminalOpen, {
      containerId: containers.shell,
      cmd: ["sh"],
      user: "65534",
      workingDir: "/tmp",
      env: ["GREETING=hello there"],
    });
    expect(term.readOnly).toBe(false);
    await term.type('echo "<$(id -u)|$(pwd)|$GREETING>"\r');
    const screen = await term.waitFor(/<[^<>$]+>/);
    expect(/<([^<>$]+)>/.exec(screen)?.[1]).toBe(expected);
    await term.type("exit 3\r");
    await waitFor(() => term.end, { what: "the end after exit" });
    expect(term.end).toEqual({ terminalId: term.id, reason: null, exitCode: 3 });
  });

  it("follows resizes: stty size inside the container reports the terminal's size", async () => {
    const socket = await socketFor(users.operator);
    const term = await openTerminal(socket, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"], cols: 80, rows: 24 });
    await term.type("echo size=$(stty size)\r");
    await term.waitFor(/size=24 80/);
    const from = term.text().length;
    await term.resize(132, 40);
    await term.type("echo size=$(stty size)\r");
    await term.waitFor(/size=40 132/, from);
    await closeTerminal(socket, term);
    await waitFor(() => term.end, { what: "the end after close" });
    expect(term.end?.reason).toBe("Closed by the user");
  });

  it("passes bytes through untouched, and a flood waits for the page instead of filling memory", async () => {
    const socket = await socketFor(users.operator);
    const size = 4_000_000;
    // Raw output (no newline translation), so the byte count is exact.
    const term = await openTerminal(
      socket,
      ClientEvent.terminalOpen,
      { containerId: containers.shell, cmd: ["sh", "-c", `stty raw -echo; yes 0123456789abcdef | head -c ${size}; sleep 1`] },
      { ack: false },
    );
    await waitFor(() => term.bytes() > 0, { what: "the first output" });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const held = term.bytes();
    // The page acknowledged nothing: at most the window (8 frames of 64 KiB) is in flight, not 4 MB.
    expect(held).toBeLessThanOrEqual(8 * 65_536);
    expect(t.server.hub.streamBacklog.every((frames) => frames <= 8)).toBe(true);
    expect(term.end).toBeNull();
    // Now read it all: acknowledging lets the agent resume Docker's stream.
    const timer = setInterval(() => term.ackAll(), 5);
    try {
      await waitFor(() => term.end, { what: "the flood's end", timeoutMs: 60_000 });
    } finally {
      clearInterval(timer);
    }
    expect(term.bytes()).toBe(size);
    expect(term.text()).toBe("0123456789abcdef\n".repeat(size / 17 + 1).slice(0, size));
  });

  it("refuses a viewer (no container.exec), and audits the refusal", async () => {
    const socket = await socketFor(users.viewer);
    const answer = await emitWithAck(socket, ClientEvent.terminalOpen, { hostId, containerId: containers.shell, cmd: ["sh"] });
    expect(answer).toMatchObject({ ok: false, code: "FORBIDDEN" });
    const row = await t.server.db.auditEvent.findFirst({ where: { action: "containers.exec", outcome: "DENIED", actorId: users.viewer.id }, select: { error: true } });
    expect(row?.error).toBe('You need the "container.exec" permission for this');
  });

  it("refuses a stopped container and a container of another host with a clear error", async () => {
    const stopped = await runTestContainer({ name: `term-stopped-${suffix}`, labels: { "berth.test": "terminals" }, cmd: ["true"], detach: false });
    await waitFor(() => t.server.db.container.findFirst({ where: { hostId, dockerId: stopped, state: "exited" } }), { what: "the stopped container" });
    const socket = await socketFor(users.operator);
    expect(await emitWithAck(socket, ClientEvent.terminalOpen, { hostId, containerId: stopped, cmd: ["sh"] })).toMatchObject({
      ok: false,
      code: "BAD_REQUEST",
      message: "The container is exited: terminals need a running container",
    });
    expect(await emitWithAck(socket, ClientEvent.terminalOpen, { hostId, containerId: "0".repeat(64), cmd: ["sh"] })).toMatchObject({ ok: false, code: "NOT_FOUND" });
    expect(await emitWithAck(socket, ClientEvent.terminalOpen, { hostId, containerId: containers.shell, cmd: [] })).toMatchObject({ ok: false, code: "BAD_REQUEST" });
  });

  it("closes a terminal left idle, with the reason in the terminal", async () => {
    const limits = t.server.deps.terminals;
    const before = limits.idleMs;
    limits.idleMs = 1500;
    try {
      const socket = await socketFor(users.operator);
      const term = await openTerminal(socket, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
      await waitFor(() => term.end, { what: "the idle timeout" });
      expect(term.end?.reason).toBe("Closed after 2 seconds without activity");
      const session = await t.server.db.terminalSession.findUniqueOrThrow({ where: { id: term.sessionId }, select: { endedAt: true, endReason: true } });
      expect(session.endReason).toBe("Closed after 2 seconds without activity");
    } finally {
      limits.idleMs = before;
    }
  });

  it("limits the terminals one user has open, across sockets", async () => {
    const limits = t.server.deps.terminals;
    const before = limits.perUser;
    limits.perUser = 2;
    try {
      const first = await socketFor(users.operator);
      const second = await socketFor(users.operator);
      const a = await openTerminal(first, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
      await openTerminal(second, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
      await waitFor(async () => (await t.server.db.terminalSession.count({ where: { userId: users.operator.id, endedAt: null } })) === 2, { what: "two open sessions" });
      expect(await emitWithAck(second, ClientEvent.terminalOpen, { hostId, containerId: containers.shell, cmd: ["sh"] })).toMatchObject({
        ok: false,
        message: "You already have 2 terminals open; close one first",
      });
      // Another user is not affected.
      const admin = await socketFor(users.admin);
      const other = await openTerminal(admin, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
      await closeTerminal(admin, other);
      await closeTerminal(first, a);
      await waitFor(async () => (await t.server.db.terminalSession.count({ where: { userId: users.operator.id, endedAt: null } })) === 1, { what: "one session closed" });
      const again = await openTerminal(second, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
      expect(again.sessionId).toBeTruthy();
      first.disconnect();
      second.disconnect();
    } finally {
      limits.perUser = before;
    }
  });
});

describe("per-user limit under a race", () => {
  it("lets no more than the limit through when several tabs open terminals at the same moment", async () => {
    const limits = t.server.deps.terminals;
    const before = limits.perUser;
    limits.perUser = 2;
    const user = await createSignedInUser(t.server, { role: "admin", email: `racer-${suffix}@terminals.test` });
    try {
      const tabs = await Promise.all([1, 2, 3, 4].map(() => socketFor(user)));
      const answers = await Promise.all(tabs.map((socket) => emitWithAck<TTerminalOpened>(socket, ClientEvent.terminalOpen, { hostId, containerId: containers.shell, cmd: ["sh"] })));
      expect(answers.filter((a) => a.ok)).toHaveLength(2);
      expect(answers.filter((a) => !a.ok).map((a) => (a.ok ? "" : a.message))).toEqual([
        "You already have 2 terminals open; close one first",
        "You already have 2 terminals open; close one first",
      ]);
      for (const socket of tabs) socket.disconnect();
    } finally {
      limits.perUser = before;
    }
  });
});

describe("attach", () => {
  it("lets a viewer watch the main process, read-only: keystrokes go nowhere", async () => {
    const socket = await socketFor(users.viewer);
    const term = await openTerminal(socket, ClientEvent.terminalAttach, { containerId: containers.ticker });
    expect(term.readOnly).toBe(true);
    await term.waitFor(/tick \d+/);
    const answer = await emitWithAck(socket, ClientEvent.terminalInput, { terminalId: term.id, data: "kill 1\r" });
    expect(answer.ok).toBe(true); // accepted and dropped: the server never forwards it
    const from = term.text().length;
    await term.waitFor(/tick \d+/, from, "the ticker still running");
    expect((await dockerCli(["inspect", "-f", "{{.State.Running}}", containers.ticker]))).toBe("true");
    await closeTerminal(socket, term);
  });

  it("lets an operator type into the main process's TTY", async () => {
    const socket = await socketFor(users.operator);
    const term = await openTerminal(socket, ClientEvent.terminalAttach, { containerId: containers.interactive });
    expect(term.readOnly).toBe(false);
    await term.type("echo attached-$((6*7))\r");
    await term.waitFor(/attached-42/);
    await closeTerminal(socket, term);
    // Closing detaches; the main shell goes on.
    expect(await dockerCli(["inspect", "-f", "{{.State.Running}}", containers.interactive])).toBe("true");
  });
});

describe("recordings", () => {
  it("records output and resizes as asciicast v2, linked from the audit event, replaying what the terminal showed", async () => {
    const socket = await socketFor(users.operator);
    const term = await openTerminal(socket, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"], cols: 100, rows: 30 });
    await term.type("echo recorded-$((2+3))\r");
    await term.waitFor(/recorded-5/);
    await term.resize(90, 25);
    await term.type("printf 'ünïcödé ✓\\n'; exit\r");
    await waitFor(() => term.end, { what: "the end" });
    const shown = term.text();

    const event = await t.server.db.auditEvent.findFirstOrThrow({
      where: { action: "containers.exec", outcome: "SUCCESS", actorId: users.operator.id, params: { path: ["sessionId"], equals: term.sessionId } },
      select: { seq: true, target: true },
    });
    expect(event.target).toBe(`containerId:${containers.shell}`);
    await waitFor(async () => (await t.server.db.terminalSession.findUnique({ where: { id: term.sessionId }, select: { endedAt: true } }))?.endedAt, {
      what: "the session closed",
    });

    const response = await fetch(`${t.url}/api/terminal-recording?sessionId=${term.sessionId}&download=1`, { headers: { cookie: users.admin.cookie } });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toMatch(/attachment; filename=".+\.cast"/);
    const lines = (await response.text()).trimEnd().split("\n");
    const header = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(header).toMatchObject({ version: 2, width: 100, height: 30, command: "sh" });
    const events = lines.slice(1).map((line) => JSON.parse(line) as [number, string, string]);
    const times = events.map(([at]) => at);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(events.filter(([, code]) => code === "r").map(([, , data]) => data)).toEqual(["90x25"]);
    expect(events.filter(([, code]) => code === "i"), "keystrokes are not recorded unless an admin turned that on").toEqual([]);
    expect(events.filter(([, code]) => code === "o").map(([, , data]) => data).join("")).toBe(shown);
    expect(shown).toContain("ünïcödé ✓");

    // Someone who may not see the audit event gets the same 404 as for nothing at all.
    const viewer = await fetch(`${t.url}/api/terminal-recording?sessionId=${term.sessionId}`, { headers: { cookie: users.viewer.cookie } });
    expect(viewer.status).toBe(404);
    const facts = await (await callerFor(t.server, users.admin)).terminals.session({ sessionId: term.sessionId });
    expect(facts).toMatchObject({ kind: "exec", command: "sh", exitCode: 0, readOnly: false, truncated: false, auditSeq: event.seq.toString() });
  });

  it("records keystrokes only while an admin has turned that on", async () => {
    const admin = await callerFor(t.server, users.admin);
    await admin.terminals.setRecordInput({ enabled: true });
    try {
      const socket = await socketFor(users.operator);
      const term = await openTerminal(socket, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
      await term.type("echo typed\r");
      await term.waitFor(/typed\r?\n/);
      await term.type("exit\r");
      await waitFor(() => term.end, { what: "the end" });
      await waitFor(async () => (await t.server.db.terminalSession.findUnique({ where: { id: term.sessionId }, select: { endedAt: true } }))?.endedAt, { what: "closed" });
      const text = await (await fetch(`${t.url}/api/terminal-recording?sessionId=${term.sessionId}`, { headers: { cookie: users.admin.cookie } })).text();
      const typed = text
        .trimEnd()
        .split("\n")
        .slice(1)
        .map((line) => JSON.parse(line) as [number, string, string])
        .filter(([, code]) => code === "i")
        .map(([, , data]) => data)
        .join("");
      expect(typed).toBe("echo typed\rexit\r");
    } finally {
      await admin.terminals.setRecordInput({ enabled: false });
    }
  });

  it("cuts a recording at its size limit with a marker, while the session goes on", async () => {
    const limits = t.server.deps.terminals;
    const before = limits.recordingMaxBytes;
    limits.recordingMaxBytes = 20_000;
    try {
      const socket = await socketFor(users.operator);
      const term = await openTerminal(socket, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh", "-c", "yes line | head -n 5000; echo done-after-cut"] });
      await waitFor(() => term.end, { what: "the end" });
      expect(term.text()).toContain("done-after-cut");
      await waitFor(async () => (await t.server.db.terminalSession.findUnique({ where: { id: term.sessionId }, select: { endedAt: true } }))?.endedAt, { what: "closed" });
      const session = await t.server.db.terminalSession.findUniqueOrThrow({ where: { id: term.sessionId }, select: { truncated: true, bytes: true } });
      expect(session.truncated).toBe(true);
      const text = await (await fetch(`${t.url}/api/terminal-recording?sessionId=${term.sessionId}`, { headers: { cookie: users.admin.cookie } })).text();
      expect(Buffer.byteLength(text)).toBeLessThan(20_000 + 1_000);
      const output = text
        .trimEnd()
        .split("\n")
        .slice(1)
        .map((line) => JSON.parse(line) as [number, string, string])
        .filter(([, code]) => code === "o")
        .map(([, , data]) => data)
        .join("");
      expect(output.endsWith("[Berth: the recording stops here: it reached its 20 KiB limit; the session went on]\x1b[0m\r\n")).toBe(true);
      expect(output.includes("done-after-cut"), "nothing after the cut is stored").toBe(false);
    } finally {
      limits.recordingMaxBytes = before;
    }
  });
});

describe("revocation", () => {
  it("cuts an open terminal at once when the member loses access, with the reason", async () => {
    const socket = await socketFor(users.operator);
    const term = await openTerminal(socket, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
    await (await callerFor(t.server, users.admin)).teams.removeMember({ teamId, userId: users.operator.id });
    await waitFor(() => term.end, { what: "the terminal cut after the membership was removed" });
    expect(term.end?.reason).toBe("Your access to this host was removed");
    await waitFor(async () => (await t.server.db.terminalSession.findUnique({ where: { id: term.sessionId }, select: { endReason: true } }))?.endReason, { what: "recorded" });
    await waitFor(() => t.server.hub.openStreamsOfType("container.exec") === 0, { what: "the agent's exec stream closed" });
  });

  it("ends a terminal with the reason when the host's agent goes away", async () => {
    const socket = await socketFor(users.admin);
    const term = await openTerminal(socket, ClientEvent.terminalOpen, { containerId: containers.shell, cmd: ["sh"] });
    await agent.kill();
    await waitFor(() => term.end, { what: "the end after the agent left" });
    expect(term.end?.reason).toBe("The host's agent disconnected");
  });
});
