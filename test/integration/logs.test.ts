/**
 * Container logs over the /browser socket, end to end on real parts: a real
 * dockerd writing the logs, the real agent decoding them, the server relaying
 * to a socket.io client signed in with a real session cookie or API token.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TLogLine } from "../../agent/protocol.ts";
import { ClientEvent, ServerEvent, type TLogsData, type TLogsEnd } from "../../server/gateway/browser-protocol.ts";
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
import { removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=logs";
const suffix = Math.random().toString(36).slice(2, 8);

let t: TestServer;
let agent: TestAgent;
let hostId = "";
let teamId = "";
const users = {} as Record<"admin" | "viewer" | "outsider" | "member", TestUser>;
const containers = { chatty: "", done: "" };
const sockets: BrowserTestSocket[] = [];

async function socketFor(user: TestUser) {
  const socket = await connectBrowserSocket(t.url, { cookie: user.cookie });
  sockets.push(socket);
  return socket;
}

/** Collects one subscription's lines and its end. */
function collect(socket: BrowserTestSocket) {
  const lines = new Map<string, TLogLine[]>();
  const ends = new Map<string, string | null>();
  socket.on(ServerEvent.logsData, (data: TLogsData) => lines.set(data.subscriptionId, [...(lines.get(data.subscriptionId) ?? []), ...data.lines]));
  socket.on(ServerEvent.logsEnd, (end: TLogsEnd) => ends.set(end.subscriptionId, end.reason));
  return { lines: (id: string) => lines.get(id) ?? [], ends };
}

async function open(socket: BrowserTestSocket, input: Record<string, unknown>) {
  const ack = await emitWithAck<{ subscriptionId: string }>(socket, ClientEvent.logsOpen, { hostId, ...input });
  if (!ack.ok) throw new Error(`logs:open refused: ${ack.code} ${ack.message}`);
  return ack.subscriptionId;
}

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  containers.done = await runTestContainer({
    name: `logs-done-${suffix}`,
    labels: { "berth.test": "logs" },
    // Three lines, stdout and stderr, the last without a newline.
    cmd: ["sh", "-c", "echo one; sleep 0.05; echo two >&2; sleep 0.05; printf three"],
    detach: false,
  });
  containers.chatty = await runTestContainer({
    name: `logs-chatty-${suffix}`,
    labels: { "berth.test": "logs" },
    cmd: ["sh", "-c", "i=0; while true; do echo \"tick $i\"; i=$((i+1)); sleep 0.1; done"],
  });
  t = await startTestServer({ name: "logs" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "logs-team" } });
  const other = await db.team.create({ data: { name: "elsewhere" } });
  teamId = team.id;
  users.admin = await createSignedInUser(t.server, { role: "admin", email: "admin@logs.test" });
  users.viewer = await createSignedInUser(t.server, { email: "viewer@logs.test" });
  users.member = await createSignedInUser(t.server, { email: "member@logs.test" });
  users.outsider = await createSignedInUser(t.server, { email: "outsider@logs.test" });
  await db.teamMember.createMany({
    data: [
      { teamId: team.id, userId: users.viewer.id, roleId: "role_viewer" },
      { teamId: team.id, userId: users.member.id, roleId: "role_operator" },
      { teamId: other.id, userId: users.outsider.id, roleId: "role_admin" },
    ],
  });
  const join = await createHost({ db, bus: t.server.deps.bus, name: "logs-host", teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  await waitFor(() => db.container.findFirst({ where: { hostId, dockerId: containers.chatty } }), { what: "the chatty container in the mirror" });
});

afterAll(async () => {
  for (const socket of sockets) socket.disconnect();
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
});

describe("reading logs", () => {
  it("reads a finished container's whole log: stdout and stderr, in order, with Docker's timestamps", async () => {
    const socket = await socketFor(users.viewer);
    const seen = collect(socket);
    const id = await open(socket, { containerId: containers.done, tail: null, follow: false });
    await waitFor(() => seen.ends.has(id), { what: "the end of a non-followed log" });
    expect(seen.ends.get(id)).toBeNull();
    expect(seen.lines(id).map((l) => [l.stream, l.text])).toEqual([
      ["stdout", "one"],
      ["stderr", "two"],
      ["stdout", "three"],
    ]);
    for (const line of seen.lines(id)) expect(Number.isNaN(Date.parse(line.ts))).toBe(false);
  });

  it("starts from the last N lines when asked for a tail", async () => {
    const socket = await socketFor(users.viewer);
    const seen = collect(socket);
    const id = await open(socket, { containerId: containers.done, tail: 1, follow: false });
    await waitFor(() => seen.ends.has(id), { what: "the end of the tail" });
    expect(seen.lines(id).map((l) => l.text)).toEqual(["three"]);
  });

  it("follows new lines as the container writes them, and stops on close", async () => {
    const socket = await socketFor(users.viewer);
    const seen = collect(socket);
    const id = await open(socket, { containerId: containers.chatty, tail: 2, follow: true });
    const counter = (line: TLogLine) => Number(line.text.split(" ")[1]);
    await waitFor(() => seen.lines(id).length >= 2, { what: "the tail" });
    const first = counter(seen.lines(id)[0]!);
    await waitFor(() => seen.lines(id).length >= 6, { what: "followed lines" });
    const followed = seen.lines(id).map(counter);
    // Consecutive, in order, starting from the tail: nothing lost, nothing repeated.
    expect(followed).toEqual(followed.map((_, i) => first + i));
    expect(t.server.hub.openStreamCount).toBeGreaterThan(0);
    const closed = await emitWithAck<{ closed: boolean }>(socket, ClientEvent.logsClose, { subscriptionId: id });
    expect(closed).toEqual({ ok: true, closed: true });
    await waitFor(() => t.server.hub.openStreamCount === 0, { what: "the agent stream closed" });
    const count = seen.lines(id).length;
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(seen.lines(id).length, "no lines after close").toBe(count);
  });

  it("answers bad input with a clear error and keeps the socket usable", async () => {
    const socket = await socketFor(users.viewer);
    expect(await emitWithAck(socket, ClientEvent.logsOpen, { hostId: 42 })).toMatchObject({ ok: false, code: "BAD_REQUEST" });
    expect(await emitWithAck(socket, "exec:raw", { cmd: "rm -rf /" })).toEqual({ ok: false, code: "BAD_REQUEST", message: 'Unknown event "exec:raw"' });
    expect(await emitWithAck(socket, ClientEvent.logsOpen, { hostId, containerId: "f".repeat(64) })).toMatchObject({ ok: false, code: "NOT_FOUND" });
    socket.emit(ClientEvent.logsOpen, "not even an object"); // no ack: must not crash anything
    const seen = collect(socket);
    const id = await open(socket, { containerId: containers.done, tail: 1, follow: false });
    await waitFor(() => seen.ends.has(id), { what: "a stream after the bad input" });
  });

  it("accepts an API token sent as a header, narrowed to its permissions", async () => {
    const caller = await callerFor(t.server, users.viewer);
    const withLogs = await caller.account.createToken({ name: "logs", scope: { permissions: ["host.view", "container.logs"] }, expiresInDays: 1 });
    const withoutLogs = await caller.account.createToken({ name: "no-logs", scope: { permissions: ["host.view"] }, expiresInDays: 1 });
    const a = await connectBrowserSocket(t.url, { token: withLogs.token });
    const b = await connectBrowserSocket(t.url, { token: withoutLogs.token });
    sockets.push(a, b);
    expect(await emitWithAck(a, ClientEvent.logsOpen, { hostId, containerId: containers.done, tail: 1, follow: false })).toMatchObject({ ok: true });
    expect(await emitWithAck(b, ClientEvent.logsOpen, { hostId, containerId: containers.done, tail: 1, follow: false })).toMatchObject({
      ok: false,
      code: "FORBIDDEN",
    });
  });
});

describe("downloading a whole log", () => {
  const download = (user: TestUser | null, query: Record<string, string>) =>
    fetch(`${t.url}/api/logs/download?${new URLSearchParams(query)}`, { headers: user ? { cookie: user.cookie } : {} });

  it("streams every line as text, as an attachment", async () => {
    const response = await download(users.viewer, { hostId, containerId: containers.done });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename=".+\.log"$/);
    const lines = (await response.text()).trimEnd().split("\n");
    expect(lines.map((l) => l.split(" ").slice(1).join(" "))).toEqual(["stdout one", "stderr two", "stdout three"]);
    for (const line of lines) expect(Number.isNaN(Date.parse(line.split(" ")[0]!))).toBe(false);
  });

  it("answers bad input, strangers and unknown containers with a status and a reason", async () => {
    expect((await download(null, { hostId, containerId: containers.done })).status).toBe(401);
    expect((await download(users.viewer, { hostId })).status).toBe(400);
    const missing = await download(users.viewer, { hostId, containerId: "f".repeat(64) });
    expect([missing.status, await missing.text()]).toEqual([404, "Container not found on this host"]);
    const refused = await download(users.outsider, { hostId, containerId: containers.done });
    expect(refused.status).toBe(403);
    const row = await t.server.db.auditEvent.findFirst({
      where: { action: "containers.logs.download", outcome: "DENIED", actorLabel: users.outsider.email },
      select: { hostId: true },
    });
    expect(row).toEqual({ hostId });
  });
});

describe("who may read", () => {
  it("refuses a handshake without a session, with a forged session cookie, or from another site", async () => {
    // The session cookie's real name (server/auth/auth.ts: cookiePrefix "berth"; plain http here, so no __Secure- prefix),
    // checked against what sign-in actually set, so the forgeries below are tried under the name the server reads.
    const SESSION_COOKIE = "berth.session_token";
    const real = users.viewer.cookie.split("; ").find((c) => c.startsWith(`${SESSION_COOKIE}=`));
    expect(real, `sign-in set: ${users.viewer.cookie}`).toBeDefined();
    const [token, signature] = decodeURIComponent(real!.slice(SESSION_COOKIE.length + 1)).split(".");
    expect(token && signature, "a signed value: <token>.<signature>").toBeTruthy();
    // The genuine cookie alone opens a socket: the name is the one the server reads.
    (await connectBrowserSocket(t.url, { cookie: real! })).disconnect();

    const forge = (value: string) => connectBrowserSocket(t.url, { cookie: `${SESSION_COOKIE}=${encodeURIComponent(value)}` });
    await expect(connectBrowserSocket(t.url, {})).rejects.toThrow("Sign in first");
    await expect(forge("forged.value")).rejects.toThrow("Sign in first");
    // The real session token under a signature the server did not make.
    const flipped = signature!.startsWith("A") ? `B${signature!.slice(1)}` : `A${signature!.slice(1)}`;
    await expect(forge(`${token}.${flipped}`)).rejects.toThrow("Sign in first");
    // The real token without its signature.
    await expect(forge(token!)).rejects.toThrow("Sign in first");
    await expect(connectBrowserSocket(t.url, { cookie: users.viewer.cookie, origin: "https://evil.example" })).rejects.toThrow("Cross-site");
    const same = await connectBrowserSocket(t.url, { cookie: users.viewer.cookie, origin: t.url });
    same.disconnect();
  });

  it("refuses a member of another team, and the refusal is in the audit trail", async () => {
    const socket = await socketFor(users.outsider);
    const ack = await emitWithAck(socket, ClientEvent.logsOpen, { hostId, containerId: containers.chatty });
    expect(ack).toMatchObject({ ok: false, code: "FORBIDDEN" });
    const row = await t.server.db.auditEvent.findFirst({
      where: { action: "containers.logs", outcome: "DENIED", actorLabel: users.outsider.email },
      select: { hostId: true, target: true, error: true },
    });
    expect(row).toEqual({ hostId, target: `containerId:${containers.chatty}`, error: 'You need the "container.logs" permission for this' });
  });

  it("ends open streams when the member is removed from the team, with the reason", async () => {
    const socket = await socketFor(users.member);
    const seen = collect(socket);
    const id = await open(socket, { containerId: containers.chatty, tail: 0, follow: true });
    await (await callerFor(t.server, users.admin)).teams.removeMember({ teamId, userId: users.member.id });
    await waitFor(() => seen.ends.has(id), { what: "the stream cut after the membership was removed" });
    expect(seen.ends.get(id)).toBe("Your access to this host was removed");
    expect(socket.connected, "the socket itself stays: the person is still signed in").toBe(true);
    await waitFor(() => t.server.hub.openStreamCount === 0, { what: "the agent stream closed" });
  });

  it("ends a demoted admin's stream on a host outside their teams", async () => {
    const deputy = await createSignedInUser(t.server, { role: "admin", email: "deputy@logs.test" });
    const socket = await socketFor(deputy);
    const seen = collect(socket);
    const id = await open(socket, { containerId: containers.chatty, tail: 0, follow: true });
    await (await callerFor(t.server, users.admin)).users.setGlobalAdmin({ userId: deputy.id, globalAdmin: false });
    await waitFor(() => seen.ends.has(id), { what: "the stream cut after the demotion" });
    expect(seen.ends.get(id)).toBe("Your access to this host was removed");
    expect(await emitWithAck(socket, ClientEvent.logsOpen, { hostId, containerId: containers.chatty })).toMatchObject({ ok: false, code: "FORBIDDEN" });
  });

  it("ends the socket when its session is revoked", async () => {
    const socket = await socketFor(users.viewer);
    const ended: string[] = [];
    socket.on(ServerEvent.sessionEnded, (info: { reason: string }) => ended.push(info.reason));
    await open(socket, { containerId: containers.chatty, tail: 0, follow: true });
    const session = await t.server.db.session.findFirstOrThrow({ where: { userId: users.viewer.id }, select: { id: true } });
    await (await callerFor(t.server, users.admin)).users.revokeSessionOf({ userId: users.viewer.id, sessionId: session.id });
    await waitFor(() => !socket.connected, { what: "the socket closed by the server" });
    expect(ended).toEqual(["Your session ended"]);
    await waitFor(() => t.server.hub.openStreamCount === 0, { what: "the agent stream closed" });
    await expect(connectBrowserSocket(t.url, { cookie: users.viewer.cookie })).rejects.toThrow("Sign in first");
  });

  it("ends the stream with a reason when the host's agent goes away", async () => {
    const socket = await socketFor(users.admin);
    const seen = collect(socket);
    const id = await open(socket, { containerId: containers.chatty, tail: 0, follow: true });
    await agent.kill();
    await waitFor(() => seen.ends.has(id), { what: "the stream ended by the agent's disconnect" });
    expect(seen.ends.get(id)).toBe("The host's agent disconnected");
    expect(await emitWithAck(socket, ClientEvent.logsOpen, { hostId, containerId: containers.chatty })).toMatchObject({ ok: false, code: "UNAVAILABLE" });
  });
});
