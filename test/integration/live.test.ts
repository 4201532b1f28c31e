/**
 * The live subscription a page keeps open (`hosts.onChange`), over real HTTP
 * server-sent events as the browser's tRPC link uses it:
 * - event ids continue after a resume (Last-Event-ID header or the
 *   `lastEventId` input the link adds), instead of restarting at 1 and
 *   handing out ids the client already saw;
 * - a change of the caller's own rights reaches their open stream (so pages
 *   re-read what they may offer), and someone else's change does not.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { callerFor, createSignedInUser, startTestServer, type TestServer, type TestUser } from "../infra/berth.ts";

let t: TestServer;
let admin: TestUser;
let operator: TestUser;
let bystander: TestUser;
let teamId = "";
let hostId = "";

type SseEvent = { event: string | null; id: string | null; data: string };

/** An open SSE response, read event by event. */
class SseReader {
  private buffer = "";
  private readonly reader: ReadableStreamDefaultReader<Uint8Array>;
  private readonly decoder = new TextDecoder();
  constructor(
    response: Response,
    private readonly abort: AbortController,
  ) {
    this.reader = response.body!.getReader();
  }

  /** The next event that is not a keep-alive ping. */
  async next(): Promise<SseEvent> {
    for (;;) {
      const end = this.buffer.indexOf("\n\n");
      if (end >= 0) {
        const block = this.buffer.slice(0, end);
        this.buffer = this.buffer.slice(end + 2);
        const event: SseEvent = { event: null, id: null, data: "" };
        for (const line of block.split("\n")) {
          const colon = line.indexOf(":");
          if (colon <= 0) continue;
          const field = line.slice(0, colon);
          const value = line.slice(colon + 1).replace(/^ /, "");
          if (field === "event") event.event = value;
          else if (field === "id") event.id = value;
          else if (field === "data") event.data += value;
        }
        if (event.event === "ping" || (event.event === null && event.id === null && !event.data)) continue;
        return event;
      }
      const { value, done } = await this.reader.read();
      if (done) throw new Error("the stream ended");
      this.buffer += this.decoder.decode(value, { stream: true });
    }
  }

  /** The next data event (skips `connected` and id-restoring events). */
  async nextData(): Promise<SseEvent & { json: unknown }> {
    for (;;) {
      const event = await this.next();
      if (event.event !== null) continue;
      return { ...event, json: (JSON.parse(event.data) as { json: unknown }).json };
    }
  }

  close() {
    this.abort.abort();
  }
}

/** Opens `hosts.onChange` the way the browser's httpSubscriptionLink does. */
async function subscribe(user: TestUser, resume: { header?: string; input?: string } = {}): Promise<SseReader> {
  const abort = new AbortController();
  const url = new URL(`${t.url}/api/trpc/hosts.onChange`);
  if (resume.input) url.searchParams.set("input", JSON.stringify({ json: { lastEventId: resume.input } }));
  const headers: Record<string, string> = { cookie: user.cookie, accept: "text/event-stream" };
  if (resume.header) headers["last-event-id"] = resume.header;
  const response = await fetch(url, { headers, signal: abort.signal });
  expect(response.status).toBe(200);
  const reader = new SseReader(response, abort);
  const first = await reader.next();
  expect(first.event, "the stream says it is connected first").toBe("connected");
  return reader;
}

const touchHost = () => t.server.deps.bus.publish({ type: "host.changed", hostId });

beforeAll(async () => {
  t = await startTestServer({ name: "live" });
  const db = t.server.db;
  const team = await db.team.create({ data: { name: "live-team" } });
  teamId = team.id;
  hostId = (await db.host.create({ data: { name: "live-host", teams: { create: { teamId } } } })).id;
  admin = await createSignedInUser(t.server, { email: "live-admin@example.test", role: "admin" });
  operator = await createSignedInUser(t.server, { email: "live-operator@example.test" });
  bystander = await createSignedInUser(t.server, { email: "live-bystander@example.test" });
  await db.teamMember.create({ data: { teamId, userId: operator.id, roleId: "role_operator" } });
  await db.teamMember.create({ data: { teamId, userId: bystander.id, roleId: "role_operator" } });
});
afterAll(() => t?.stop());

describe("tracked subscription ids", () => {
  it("a fresh stream numbers its events from 1", async () => {
    const stream = await subscribe(admin);
    try {
      touchHost();
      expect((await stream.nextData()).id).toBe("1");
      touchHost();
      expect((await stream.nextData()).id).toBe("2");
    } finally {
      stream.close();
    }
  });

  it("a stream resumed with Last-Event-ID continues after it", async () => {
    const stream = await subscribe(admin, { header: "2" });
    try {
      touchHost();
      const event = await stream.nextData();
      expect(event.id).toBe("3");
      expect(event.json).toEqual({ type: "host.changed", hostId });
    } finally {
      stream.close();
    }
  });

  it("a stream resumed with the lastEventId input (the tRPC link's own reconnect) continues after it", async () => {
    const stream = await subscribe(admin, { input: "41" });
    try {
      touchHost();
      expect((await stream.nextData()).id).toBe("42");
    } finally {
      stream.close();
    }
  });

  it("a malformed lastEventId starts from 1 instead of failing", async () => {
    const stream = await subscribe(admin, { header: "not-a-number" });
    try {
      touchHost();
      expect((await stream.nextData()).id).toBe("1");
    } finally {
      stream.close();
    }
  });
});

describe("access changes on the live stream", () => {
  it("the caller hears about a change of their own rights, not of someone else's", async () => {
    const stream = await subscribe(operator);
    try {
      const adminCaller = await callerFor(t.server, admin);
      // Someone else's role changes first: nothing for the operator.
      await adminCaller.teams.setMember({ teamId, userId: bystander.id, roleId: "role_viewer" });
      // Then the operator is demoted to Viewer.
      await adminCaller.teams.setMember({ teamId, userId: operator.id, roleId: "role_viewer" });
      const event = await stream.nextData();
      expect(event.json).toEqual({ type: "access.changed", userId: operator.id });
      // And the stream goes on with what they may still see.
      touchHost();
      expect((await stream.nextData()).json).toEqual({ type: "host.changed", hostId });
    } finally {
      stream.close();
    }
  });
});
