/**
 * Log streams at full depth, on real parts (dockerd, agent process, server,
 * socket.io clients signed in with real sessions):
 *  - one Docker log stream per container and parameters, shared by every viewer;
 *  - the merged view's ordering of two containers' logs (oracle: the CLI's
 *    timestamps, sorted by `sort`);
 *  - resume after the agent's or the server connection's drop, without
 *    duplicate or missing lines (oracle: `docker logs`).
 * The client side is the pages' own code (LogSubscription, mergeLines) over a real socket.
 */
import { execFile } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TLogLine } from "../../agent/protocol.ts";
import { mergeLines, type SourcedLine } from "../../app/_lib/log-merge.ts";
import { LogSubscription, type LogStreamStatus } from "../../app/_lib/log-subscription.ts";
import { ClientEvent, ServerEvent, type TLogsData } from "../../server/gateway/browser-protocol.ts";
import { createHost } from "../../server/services/hosts.ts";
import { sharedLogStreams } from "../../server/services/log-fanout.ts";
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
import { dockerCli, removeContainersByLabel, runTestContainer } from "../infra/docker.ts";

const LABEL = "berth.test=log-sharing";
const suffix = Math.random().toString(36).slice(2, 8);

let t: TestServer;
let agent: TestAgent;
let hostId = "";
let admin: TestUser;
const sockets: BrowserTestSocket[] = [];
const containers = { chatty: "", a: "", b: "" };

function sh(script: string): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile("sh", ["-c", script], { maxBuffer: 64 << 20 }, (error, stdout, stderr) => (error ? reject(new Error(`${script}: ${stderr || error.message}`)) : resolve(stdout))),
  );
}

async function socket() {
  const s = await connectBrowserSocket(t.url, { cookie: admin.cookie });
  sockets.push(s);
  return s;
}

/** A page's subscription: drains (and so acknowledges) whatever arrives, records its statuses. */
function subscribe(s: BrowserTestSocket, source: { containerId: string; tail: number | null; follow: boolean }) {
  const lines: TLogLine[] = [];
  const statuses: LogStreamStatus[] = [];
  const subscription: LogSubscription = new LogSubscription(
    s,
    { hostId, markers: false, since: null, until: null, maxLines: null, ...source },
    {
      ready: () => setImmediate(() => lines.push(...subscription.drain())),
      status: (status) => statuses.push(status),
      capped: () => undefined,
    },
  );
  return { lines, statuses, subscription };
}

const tick = (line: TLogLine) => Number(/^tick (\d+)$/.exec(line.text)?.[1] ?? NaN);

beforeAll(async () => {
  await removeContainersByLabel(LABEL);
  containers.chatty = await runTestContainer({
    name: `log-sharing-chatty-${suffix}`,
    labels: { "berth.test": "log-sharing" },
    cmd: ["sh", "-c", 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 0.05; done'],
  });
  // Two containers writing at the same time, so their lines interleave in time.
  const writer = (name: string) => `for i in $(seq 1 300); do echo "${name} $i"; sleep 0.01; done`;
  [containers.a, containers.b] = await Promise.all([
    runTestContainer({ name: `log-sharing-a-${suffix}`, labels: { "berth.test": "log-sharing" }, cmd: ["sh", "-c", writer("a")] }),
    runTestContainer({ name: `log-sharing-b-${suffix}`, labels: { "berth.test": "log-sharing" }, cmd: ["sh", "-c", writer("b")] }),
  ]);
  await dockerCli(["wait", containers.a, containers.b]);
  t = await startTestServer({ name: "log-sharing" });
  admin = await createSignedInUser(t.server, { role: "admin", email: "admin@log-sharing.test" });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: "sharing-host", teamIds: [], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
  for (const id of Object.values(containers)) await waitFor(() => t.server.db.container.findFirst({ where: { hostId, dockerId: id } }), { what: "containers in the mirror" });
});

afterAll(async () => {
  for (const s of sockets) s.disconnect();
  await agent?.kill();
  await t?.stop();
  await removeContainersByLabel(LABEL);
});

describe("one Docker log stream per container and parameters, shared", () => {
  it("two viewers following the same log use ONE agent stream; both get the same lines; the last to leave closes it", async () => {
    const [first, second] = [await socket(), await socket()];
    const one = subscribe(first, { containerId: containers.chatty, tail: 5, follow: true });
    await waitFor(() => one.lines.length >= 10, { what: "the first viewer's lines" });
    const two = subscribe(second, { containerId: containers.chatty, tail: 5, follow: true });
    await waitFor(() => two.lines.length >= 15, { what: "the second viewer's lines" });
    expect(t.server.hub.openStreamsOfType("container.logs")).toBe(1);
    expect(sharedLogStreams(t.server.deps.link).viewers).toBe(2);

    // The late viewer starts with the last 5 lines (its tail), then reads live, consecutively.
    const ticks = two.lines.map(tick);
    expect(ticks.length).toBeGreaterThan(0);
    expect(ticks).toEqual(ticks.map((_, i) => ticks[0]! + i));
    // Every line the second got is one the first got, in the same place.
    const firstTicks = one.lines.map(tick);
    const at = firstTicks.indexOf(ticks[0]!);
    expect(at).toBeGreaterThanOrEqual(0);
    expect(firstTicks.slice(at, at + 10)).toEqual(ticks.slice(0, 10));

    one.subscription.close();
    await waitFor(() => sharedLogStreams(t.server.deps.link).viewers === 1, { what: "one viewer left" });
    expect(t.server.hub.openStreamsOfType("container.logs")).toBe(1);
    two.subscription.close();
    await waitFor(() => t.server.hub.openStreamsOfType("container.logs") === 0, { what: "the agent stream closed with its last viewer" });
  });

  it("different parameters get different streams", async () => {
    const s = await socket();
    const one = subscribe(s, { containerId: containers.chatty, tail: 5, follow: true });
    const two = subscribe(s, { containerId: containers.chatty, tail: 50, follow: true });
    await waitFor(() => one.lines.length > 0 && two.lines.length > 0, { what: "both views" });
    expect(t.server.hub.openStreamsOfType("container.logs")).toBe(2);
    one.subscription.close();
    two.subscription.close();
    await waitFor(() => t.server.hub.openStreamsOfType("container.logs") === 0, { what: "streams closed" });
  });

  it("a viewer that stops reading does not stop the others: it is detached (resumable) past its queue bound", async () => {
    const [reader, stalled] = [await socket(), await socket()];
    const one = subscribe(reader, { containerId: containers.chatty, tail: 5, follow: true });
    // A raw page that never acknowledges.
    const ends: Array<{ reason: string | null; resumable?: boolean }> = [];
    stalled.on(ServerEvent.logsEnd, (end) => ends.push(end));
    let frames = 0;
    stalled.on(ServerEvent.logsData, (_: TLogsData) => frames++);
    const ack = await emitWithAck<{ subscriptionId: string }>(stalled, ClientEvent.logsOpen, { hostId, containerId: containers.chatty, tail: 5, follow: true });
    expect(ack.ok).toBe(true);
    const before = one.lines.length;
    // The reader keeps receiving well past the stalled page's window (8 frames) and queue (32 frames).
    await waitFor(() => ends.length > 0, { what: "the stalled viewer detached", timeoutMs: 60_000 });
    expect(ends[0]!.resumable).toBe(true);
    expect(frames).toBeLessThanOrEqual(8);
    expect(one.lines.length).toBeGreaterThan(before + 32);
    one.subscription.close();
    await waitFor(() => t.server.hub.openStreamsOfType("container.logs") === 0, { what: "streams closed" });
  });
});

describe("the merged view", () => {
  it("orders two containers' lines by Docker's timestamps, as sorting the CLI's timestamped logs does", async () => {
    const s = await socket();
    const subs = [containers.a, containers.b].map((containerId) => subscribe(s, { containerId, tail: null, follow: false }));
    let merged: SourcedLine[] = [];
    // Merge as the page does: whatever each source delivered so far, batch by batch.
    const taken = [0, 0];
    await waitFor(
      () => {
        subs.forEach((sub, sourceIndex) => {
          const batch = sub.lines.slice(taken[sourceIndex]);
          taken[sourceIndex] = sub.lines.length;
          merged = mergeLines(merged, batch.map((line) => ({ ...line, sourceIndex })));
        });
        return subs.every((sub) => sub.statuses.includes("ended")) && taken[0] === 300 && taken[1] === 300;
      },
      { what: "both logs read" },
    );
    // Oracle: the CLI's timestamped lines, a's first, stably sorted on the timestamp alone.
    const oracle = (await sh(`{ docker logs -t ${containers.a}; docker logs -t ${containers.b}; } 2>&1 | sort -s -k1,1`)).trim().split("\n");
    expect(oracle.length).toBe(600);
    expect(merged.map((l) => `${l.ts} ${l.text}`)).toEqual(oracle);
    // And they really interleave (else ordering proves little).
    const switches = merged.filter((l, i) => i > 0 && l.sourceIndex !== merged[i - 1]!.sourceIndex).length;
    expect(switches).toBeGreaterThan(10);
  });
});

describe("since and until", () => {
  it("a log stream between two times holds exactly the lines the CLI gives for that window", async () => {
    const stamped = (await sh(`docker logs --timestamps ${containers.a} 2>&1 | sed -n '100p;200p'`)).trim().split("\n");
    const [since, until] = stamped.map((line) => line.split(" ")[0]!);
    const expected = (await sh(`docker logs --since ${since} --until ${until} ${containers.a} 2>&1`)).trim().split("\n");
    expect(expected.length).toBeGreaterThan(50);
    const s = await socket();
    const view = new Promise<TLogLine[]>((resolve) => {
      const got: TLogLine[] = [];
      const sub: LogSubscription = new LogSubscription(
        s,
        { hostId, containerId: containers.a, tail: null, follow: false, markers: false, since: since!, until: until!, maxLines: null },
        {
          ready: () => got.push(...sub.drain()),
          status: (status) => {
            if (status === "ended") setImmediate(() => resolve([...got, ...sub.drain()]));
          },
          capped: () => undefined,
        },
      );
    });
    expect((await view).map((l) => l.text)).toEqual(expected);
  });
});

describe("resume after a drop", () => {
  async function expectExactlyTheLog(received: TLogLine[]) {
    const lines = received.slice(); // taken before asking the CLI, which then has every one of them
    const ticks = lines.map(tick);
    expect(ticks.length).toBeGreaterThan(0);
    // Oracle: Docker's own log between the first and the last line received.
    const all = (await sh(`docker logs ${containers.chatty} 2>&1`)).trim().split("\n");
    const from = all.indexOf(`tick ${ticks[0]}`);
    expect(from).toBeGreaterThanOrEqual(0);
    expect(lines.map((l) => l.text)).toEqual(all.slice(from, from + lines.length));
  }

  it("the agent goes away and comes back: the log carries on from the last line, nothing twice, nothing missed", async () => {
    const s = await socket();
    const view = subscribe(s, { containerId: containers.chatty, tail: 3, follow: true });
    await waitFor(() => view.lines.length >= 10, { what: "lines before the drop" });
    await agent.kill();
    await waitFor(() => view.statuses.includes("reconnecting"), { what: "the view told of the drop" });
    const atDrop = view.lines.length;
    agent = await startTestAgent({ serverUrl: t.url, stateDir: agent.stateDir });
    await waitFor(() => view.lines.length >= atDrop + 20, { what: "lines after the agent came back", timeoutMs: 60_000 });
    expect(view.statuses.at(-1)).toBe("live");
    await expectExactlyTheLog(view.lines);
    view.subscription.close();
  });

  it("the page's connection to the server drops and comes back: same, from the last line", async () => {
    const s = await socket();
    const view = subscribe(s, { containerId: containers.chatty, tail: 3, follow: true });
    await waitFor(() => view.lines.length >= 10, { what: "lines before the drop" });
    s.disconnect();
    await new Promise((resolve) => setTimeout(resolve, 500)); // the container writes on meanwhile
    const atDrop = view.lines.length;
    s.connect();
    await waitFor(() => view.lines.length >= atDrop + 20, { what: "lines after the reconnect", timeoutMs: 60_000 });
    expect(view.statuses).toContain("reconnecting");
    await expectExactlyTheLog(view.lines);
    view.subscription.close();
  });
});
