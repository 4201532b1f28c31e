/**
 * Several Berth servers can share one Postgres. Each agent is connected to one
 * of them, and each browser to any of them; this link, over Postgres
 * LISTEN/NOTIFY, makes that invisible:
 *  - live events published on one replica reach subscribers on all of them;
 *  - an operation for an agent connected elsewhere is forwarded to the replica
 *    that holds it, and its answer comes back the same way;
 *  - control messages (drop this host's agent: revoked or removed; warn it: a
 *    second copy of its identity tried to connect) reach the replica holding it.
 * The embedded database (one process by definition) does not need it.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { z } from "zod";
import { AppError } from "../errors.ts";
import type { EventBus, FleetEvent } from "../events/bus.ts";
import { InProcessEventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";

const log = createLogger("replicas");
const EVENTS_CHANNEL = "berth_events";
const RPC_CHANNEL = "berth_agent_rpc";
const CONTROL_CHANNEL = "berth_agent_control";
const MAX_NOTIFY_BYTES = 7900; // Postgres caps a NOTIFY payload at 8000 bytes

const ZEventMessage = z.object({ from: z.string(), event: z.record(z.string(), z.unknown()) });
const ZRpcMessage = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("request"), from: z.string(), requestId: z.string(), hostId: z.string(), type: z.string(), params: z.unknown(), timeoutMs: z.number() }),
  z.object({ kind: z.literal("response"), to: z.string(), requestId: z.string(), raw: z.unknown().optional(), error: z.object({ code: z.string(), message: z.string() }).optional() }),
]);

export const ZPeerControl = z.object({
  kind: z.enum(["disconnect", "warn"]),
  hostId: z.string().max(64),
  message: z.string().max(1000),
});
export type TPeerControl = z.infer<typeof ZPeerControl>;
const ZControlMessage = ZPeerControl.extend({ from: z.string() });

/** Runs an operation on an agent connected to THIS replica; resolves `undefined` if it is not here. */
export type LocalAgentRunner = (hostId: string, type: string, params: unknown, timeoutMs: number) => Promise<unknown | undefined>;

type Pending = { resolve: (raw: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout };

export class PostgresReplicaLink {
  private listener: pg.Client | null = null;
  private readonly publisher: pg.Pool;
  private readonly pending = new Map<string, Pending>();
  private stopped = false;
  private runLocal: LocalAgentRunner = async () => undefined;
  private onEvent: (event: FleetEvent) => void = () => undefined;
  private onControl: (message: TPeerControl) => void = () => undefined;

  constructor(private readonly opts: { url: string; serverId: string }) {
    this.publisher = new pg.Pool({ connectionString: opts.url, max: 2 });
  }

  bind(handlers: { runLocal: LocalAgentRunner; onEvent: (event: FleetEvent) => void; onControl?: (message: TPeerControl) => void }) {
    this.runLocal = handlers.runLocal;
    this.onEvent = handlers.onEvent;
    if (handlers.onControl) this.onControl = handlers.onControl;
  }

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.url });
    client.on("notification", (message) => void this.onNotification(message.channel, message.payload ?? ""));
    client.on("error", (error) => this.reconnect(client, error));
    client.on("end", () => this.reconnect(client, new Error("connection ended")));
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    await client.query(`LISTEN ${RPC_CHANNEL}`);
    await client.query(`LISTEN ${CONTROL_CHANNEL}`);
    this.listener = client;
  }

  private reconnect(client: pg.Client, error: Error) {
    if (this.stopped || this.listener !== client) return;
    this.listener = null;
    log.warn(`lost the replica channel (${error.message}); reconnecting`);
    const retry = () =>
      this.start().catch((e: unknown) => {
        log.warn(`replica channel: ${String(e)}`);
        if (!this.stopped) setTimeout(retry, 2_000);
      });
    setTimeout(retry, 1_000);
  }

  async stop() {
    this.stopped = true;
    for (const { reject, timer } of this.pending.values()) {
      clearTimeout(timer);
      reject(new AppError("HOST_OFFLINE", "This server is shutting down"));
    }
    await this.listener?.end().catch(() => undefined);
    await this.publisher.end().catch(() => undefined);
  }

  private async notify(channel: string, message: unknown) {
    const payload = JSON.stringify(message);
    if (Buffer.byteLength(payload) > MAX_NOTIFY_BYTES) throw new Error("message too large to forward between replicas");
    await this.publisher.query("SELECT pg_notify($1, $2)", [channel, payload]);
  }

  publishEvent(event: FleetEvent) {
    this.notify(EVENTS_CHANNEL, { from: this.opts.serverId, event }).catch((error: unknown) =>
      log.warn("could not forward a live event to other replicas", { error: String(error) }),
    );
  }

  /** Tells the other replicas; resolves once Postgres took the message (revocation waits for it). */
  async control(message: TPeerControl): Promise<void> {
    await this.notify(CONTROL_CHANNEL, { ...message, from: this.opts.serverId });
  }

  /** Asks the other replicas to run an operation on the agent one of them holds. */
  forward(hostId: string, type: string, params: unknown, timeoutMs: number): Promise<unknown> {
    const requestId = randomUUID();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        reject(new AppError("TIMEOUT", `No server holding this host's agent answered "${type}" in time`));
      }, timeoutMs + 2_000);
      this.pending.set(requestId, { resolve, reject, timer });
      this.notify(RPC_CHANNEL, { kind: "request", from: this.opts.serverId, requestId, hostId, type, params, timeoutMs }).catch((error: unknown) => {
        clearTimeout(timer);
        this.pending.delete(requestId);
        reject(new AppError("INTERNAL", `Could not reach the other servers: ${String(error)}`));
      });
    });
  }

  private async onNotification(channel: string, payload: string) {
    let json: unknown;
    try {
      json = JSON.parse(payload);
    } catch {
      return;
    }
    if (channel === CONTROL_CHANNEL) {
      const message = ZControlMessage.safeParse(json);
      if (message.success && message.data.from !== this.opts.serverId) {
        const { from: _from, ...control } = message.data;
        this.onControl(control);
      }
      return;
    }
    if (channel === EVENTS_CHANNEL) {
      const message = ZEventMessage.safeParse(json);
      if (message.success && message.data.from !== this.opts.serverId) this.onEvent(message.data.event as FleetEvent);
      return;
    }
    const message = ZRpcMessage.safeParse(json);
    if (!message.success) return;
    const m = message.data;
    if (m.kind === "response") {
      if (m.to !== this.opts.serverId) return;
      const pending = this.pending.get(m.requestId);
      if (!pending) return;
      clearTimeout(pending.timer);
      this.pending.delete(m.requestId);
      if (m.error) pending.reject(new AppError(m.error.code === "NOT_FOUND" ? "NOT_FOUND" : "INTERNAL", m.error.message));
      else pending.resolve(m.raw);
      return;
    }
    if (m.from === this.opts.serverId) return;
    let reply: { raw?: unknown; error?: { code: string; message: string } };
    try {
      const raw = await this.runLocal(m.hostId, m.type, m.params, m.timeoutMs);
      if (raw === undefined) return; // not our agent: another replica answers
      reply = { raw };
    } catch (error) {
      reply = { error: { code: error instanceof AppError ? error.code : "INTERNAL", message: error instanceof Error ? error.message : String(error) } };
    }
    await this.notify(RPC_CHANNEL, { kind: "response", to: m.from, requestId: m.requestId, ...reply }).catch((error: unknown) =>
      log.warn("could not answer a forwarded request", { error: String(error) }),
    );
  }
}

/** The event bus for a replicated deployment: local delivery plus every other replica. */
export class ReplicatedEventBus implements EventBus {
  private readonly local = new InProcessEventBus();

  constructor(private readonly link: PostgresReplicaLink) {}

  /** Events from other replicas are delivered to local subscribers only (no echo). */
  deliverFromPeer(event: FleetEvent) {
    this.local.publish(event);
  }

  publish(event: FleetEvent): void {
    this.local.publish(event);
    this.link.publishEvent(event);
  }

  subscribe(listener: (event: FleetEvent) => void): () => void {
    return this.local.subscribe(listener);
  }
}
