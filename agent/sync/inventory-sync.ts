/**
 * Keeps the server's picture of this host equal to Docker's, always.
 *
 * - Resync: subscribe to Docker's events, take a full snapshot, send it. One
 *   resync at a time: requests while one runs fold into one more run after it;
 *   failures (dockerd down or restarting) retry with capped exponential backoff
 *   through the same path.
 * - Events are hints: a container event re-reads that container with inspect
 *   (settled state) and sends it only if it differs from what was last sent.
 *   Events that can precede the settled state (die, kill, restart…) get one
 *   more re-read a moment later. Reads started before a resync are discarded:
 *   the snapshot that followed them is newer.
 * - Reconciliation: every few seconds, list the containers (one cheap call)
 *   and re-inspect only those whose listed name/state/health/ports differ from
 *   what was sent, or that appeared or vanished. Whatever an event missed heals
 *   here; corrections are counted as drift. The digest of what was sent goes
 *   to the server, which asks for a resync if its rows disagree.
 */
import { createHash } from "node:crypto";
import type Docker from "dockerode";
import {
  CONTAINER_EVENTS_BATCH_MAX,
  CONTAINER_HISTORY_ACTIONS,
  containerDigestLine,
  type TContainerEvent,
  portsKey,
  type TContainerRecord,
  type TImageRecord,
  type TInventoryChange,
  type TNetworkRecord,
  type TReconciled,
  type TSnapshot,
  type TVolumeRecord,
} from "../protocol.ts";
import { DockerEventStream, type DockerEvent } from "../docker/events.ts";
import { getContainerRecord, listImageRecords, listNetworkRecords, listVolumeRecords, takeSnapshot } from "../docker/inventory.ts";

type Log = (level: "info" | "warn" | "error", message: string) => void;

export type InventorySink = {
  snapshot(snapshot: TSnapshot): void;
  change(change: TInventoryChange): void;
  reconciled(report: TReconciled): void;
  /** Lifecycle events for the server's per-container history (optional: tests may leave it out). */
  containerEvents?(events: TContainerEvent[]): void;
};

type Kind = "image" | "volume" | "network";
const KINDS: Kind[] = ["image", "volume", "network"];

/** Container actions that do not change what Berth shows. */
const IGNORED_CONTAINER_ACTIONS = /^(exec_|attach|detach|resize|top|archive-path|extract-to-dir|copy|export|commit)/;
/** Actions after which Docker may still be moving the container (restart policy, health, teardown). */
const SETTLING_ACTIONS = /^(die|kill|oom|stop|start|restart|pause|unpause|health_status)/;
const SETTLE_RECHECK_MS = 750;
/** After a resync that was not the first (dockerd restarted, events lost), every container is read again this much later. */
const AFTER_RESYNC_RECHECK_MS = 3_000;
/** Lifecycle events are sent in batches: one frame per burst (`docker compose up`), not one per event. */
const HISTORY_FLUSH_MS = 50;
/** Held while the connection is busy; a burst beyond this is cut (the history is a record, not a queue). */
const HISTORY_MAX_PENDING = 1_000;
const HISTORY_ACTIONS: ReadonlySet<string> = new Set(CONTAINER_HISTORY_ACTIONS);

/** A Docker container event as a history entry, or null when it is not one the history keeps. */
export function toContainerEvent(event: DockerEvent & { time?: number; timeNano?: number }): TContainerEvent | null {
  const id = event.Actor?.ID;
  // "health_status: healthy" carries its value in the action itself.
  const [action = "", value] = (event.Action ?? "").split(":").map((part) => part.trim());
  if (event.Type !== "container" || !id || id.length < 12 || !HISTORY_ACTIONS.has(action)) return null;
  const attrs = event.Actor?.Attributes ?? {};
  const ms = typeof event.timeNano === "number" ? Math.floor(event.timeNano / 1e6) : typeof event.time === "number" ? event.time * 1000 : Date.now();
  const exit = Number(attrs.exitCode);
  return {
    containerId: id.slice(0, 128),
    action: action as TContainerEvent["action"],
    at: new Date(ms).toISOString(),
    name: String(attrs.name ?? "").replace(/^\//, "").slice(0, 255),
    image: String(attrs.image ?? "").slice(0, 1024),
    exitCode: action === "die" && attrs.exitCode !== undefined && Number.isInteger(exit) ? exit : null,
    signal: action === "kill" && attrs.signal ? String(attrs.signal).slice(0, 32) : null,
    health: action === "health_status" && value ? value.slice(0, 32) : null,
    oldName: action === "rename" && attrs.oldName ? String(attrs.oldName).replace(/^\//, "").slice(0, 255) : null,
  };
}
const RESYNC_BACKOFF_MIN_MS = 500;
const RESYNC_BACKOFF_MAX_MS = 15_000;
const RECONCILE_CONCURRENCY = 8;
/** Images, volumes and networks change rarely: reconcile them on every Nth tick. */
const KIND_RECONCILE_EVERY = 3;

/** What `docker ps` can tell about a container, in the same shape for a listed summary and a sent record. */
function listedLine(c: { name: string; state: string; health: string | null; ports: TContainerRecord["ports"] }): string {
  return `${c.name}|${c.state}|${c.health ?? ""}|${portsKey(c.ports)}`;
}

function summaryLine(s: Docker.ContainerInfo): string {
  // The list's health is only in its status text: "Up 3 minutes (healthy)".
  const health = /\((healthy|unhealthy|health: starting)\)/.exec(s.Status ?? "")?.[1]?.replace("health: ", "") ?? null;
  return listedLine({
    name: (s.Names?.[0] ?? "").replace(/^\//, ""),
    state: s.State,
    health,
    ports: (s.Ports ?? []).map((p) => ({
      ...(p.IP ? { ip: p.IP } : {}),
      privatePort: p.PrivatePort,
      ...(p.PublicPort ? { publicPort: p.PublicPort } : {}),
      type: p.Type,
    })),
  });
}

export function inventoryDigest(records: Iterable<TContainerRecord>): string {
  const lines = [...records].map(containerDigestLine).sort();
  return createHash("sha256").update(lines.join("\n")).digest("hex");
}

function keyOf(kind: Kind, record: TImageRecord | TVolumeRecord | TNetworkRecord): string {
  return kind === "volume" ? (record as TVolumeRecord).name : (record as TImageRecord | TNetworkRecord).id;
}

export class InventorySync {
  private active = false;
  /** Bumped by every resync: a read that started in an older generation is stale. */
  private generation = 0;
  /** While a snapshot is taken, events only mark their keys here; they are re-read after it is sent. */
  private collecting: Set<string> | null = null;
  /** Containers exactly as last sent to the server. */
  private reported = new Map<string, TContainerRecord>();
  private reportedKinds: Record<Kind, Map<string, string>> = { image: new Map(), volume: new Map(), network: new Map() };
  /** Per key: the running read and whether another one is already queued behind it. */
  private readonly runs = new Map<string, { promise: Promise<number>; queued: boolean }>();
  private readonly settleTimers = new Map<string, NodeJS.Timeout>();
  private events: DockerEventStream | null = null;
  private resyncRunning = false;
  private resyncPending = false;
  private resyncFailures = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private reconciling = false;
  private ticks = 0;
  private history: TContainerEvent[] = [];
  private historyTimer: NodeJS.Timeout | null = null;
  /** Corrections made by reconciliation since the agent started (for the log and tests). */
  driftCorrected = 0;

  constructor(
    private readonly docker: Docker,
    private readonly sink: InventorySink,
    private readonly log: Log,
    private readonly options: { reconcileIntervalMs: number },
  ) {}

  /** Connected and trusted: resync now, then keep in step until `stop()`. */
  start(): void {
    if (this.active) return;
    this.active = true;
    this.requestResync("connected");
    this.reconcileTimer = setInterval(() => void this.reconcile(), this.options.reconcileIntervalMs);
    this.reconcileTimer.unref?.();
  }

  /** Disconnected: stop reading Docker; nothing is buffered for a later connection (it resyncs). */
  stop(): void {
    this.active = false;
    this.generation++;
    this.collecting = null;
    this.events?.stop();
    this.events = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.reconcileTimer) clearInterval(this.reconcileTimer);
    this.retryTimer = this.reconcileTimer = null;
    for (const timer of this.settleTimers.values()) clearTimeout(timer);
    this.settleTimers.clear();
    if (this.historyTimer) clearTimeout(this.historyTimer);
    this.historyTimer = null;
    this.history = [];
  }

  /** Re-reads the images now and sends what changed (after a commit: Docker sends no image event for it). */
  refreshImages(): Promise<number> {
    return this.readKey("image");
  }

  get runningContainers(): number {
    let n = 0;
    for (const c of this.reported.values()) if (c.state === "running") n++;
    return n;
  }

  /** Asks for a fresh snapshot; never runs two at once. */
  requestResync(reason: string): void {
    if (!this.active) return;
    if (this.resyncRunning) {
      this.resyncPending = true;
      return;
    }
    // Backing off after a failure: the retry already scheduled is the next resync, not a second one now.
    if (this.retryTimer) return;
    void this.runResync(reason);
  }

  private async runResync(reason: string): Promise<void> {
    this.resyncRunning = true;
    try {
      do {
        this.resyncPending = false;
        await this.resyncOnce(reason);
      } while (this.resyncPending && this.active);
      this.resyncFailures = 0;
    } catch (error) {
      this.collecting = null;
      this.resyncFailures++;
      const base = Math.min(RESYNC_BACKOFF_MAX_MS, RESYNC_BACKOFF_MIN_MS * 2 ** this.resyncFailures);
      const delay = Math.round(base * (0.75 + Math.random() * 0.5));
      if (this.active) {
        this.log("error", `could not read Docker (${error instanceof Error ? error.message : String(error)}); retrying in ${(delay / 1000).toFixed(1)} s`);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = null;
          this.requestResync("retry");
        }, delay);
      }
    } finally {
      this.resyncRunning = false;
    }
  }

  private async resyncOnce(reason: string): Promise<void> {
    const generation = ++this.generation;
    this.events?.stop();
    this.events = null;
    this.collecting = new Set();
    const events = new DockerEventStream(this.docker);
    // Subscribe first, so nothing that happens during the snapshot is missed.
    await events.start({
      onEvent: (event) => this.onDockerEvent(event),
      onEnd: (error) => {
        if (this.events !== events) return;
        this.events = null;
        this.log("warn", `Docker events: ${error.message}; resynchronising`);
        this.requestResync("Docker event stream ended");
      },
    });
    if (!this.active || generation !== this.generation) return events.stop();
    this.events = events;
    const snapshot = await takeSnapshot(this.docker);
    if (!this.active || generation !== this.generation) return;
    this.reported = new Map(snapshot.containers.map((c) => [c.id, c]));
    this.reportedKinds = {
      image: new Map(snapshot.images.map((r) => [r.id, JSON.stringify(r)])),
      volume: new Map(snapshot.volumes.map((r) => [r.name, JSON.stringify(r)])),
      network: new Map(snapshot.networks.map((r) => [r.id, JSON.stringify(r)])),
    };
    this.sink.snapshot(snapshot);
    const dirty = this.collecting;
    this.collecting = null;
    for (const key of dirty ?? []) void this.readKey(key);
    this.log("info", `snapshot sent (${reason}): ${snapshot.containers.length} containers, ${snapshot.images.length} images`);
    // A daemon coming back is still restoring its containers for a moment, and some of what it
    // changes then (RestartCount reset to 0) comes with no event and no change `docker ps` shows:
    // every container is read once more a moment later, when it has settled.
    if (reason !== "connected") this.recheckAllLater(generation);
  }

  private recheckAllLater(generation: number) {
    const timer = setTimeout(() => {
      if (!this.active || generation !== this.generation) return;
      void (async () => {
        const ids = [...this.reported.keys()];
        for (let i = 0; i < ids.length; i += RECONCILE_CONCURRENCY) {
          if (!this.active || generation !== this.generation) return;
          await Promise.all(ids.slice(i, i + RECONCILE_CONCURRENCY).map((id) => this.readKey(`container:${id}`)));
        }
      })();
    }, AFTER_RESYNC_RECHECK_MS);
    timer.unref?.();
  }

  // ---------------------------------------------------------------- events

  private onDockerEvent(event: DockerEvent): void {
    const id = event.Actor?.ID;
    const action = event.Action ?? "";
    if (event.Type === "container" && id) {
      this.recordHistory(event);
      if (IGNORED_CONTAINER_ACTIONS.test(action)) return;
      void this.readKey(`container:${id}`);
      if (SETTLING_ACTIONS.test(action)) this.recheckLater(id);
    } else if (event.Type === "image" || event.Type === "volume" || event.Type === "network") {
      void this.readKey(event.Type);
    } else if (event.Type === "daemon" && action === "reload") {
      this.requestResync("Docker daemon reloaded");
    }
  }

  /** Queues a lifecycle event for the history frame (kept apart from the inventory logic: it never re-reads). */
  private recordHistory(event: DockerEvent): void {
    if (!this.sink.containerEvents) return;
    const entry = toContainerEvent(event);
    if (!entry || this.history.length >= HISTORY_MAX_PENDING) return;
    this.history.push(entry);
    this.historyTimer ??= setTimeout(() => {
      this.historyTimer = null;
      const batch = this.history;
      this.history = [];
      for (let i = 0; i < batch.length; i += CONTAINER_EVENTS_BATCH_MAX) this.sink.containerEvents?.(batch.slice(i, i + CONTAINER_EVENTS_BATCH_MAX));
    }, HISTORY_FLUSH_MS);
  }

  private recheckLater(id: string): void {
    clearTimeout(this.settleTimers.get(id));
    const timer = setTimeout(() => {
      this.settleTimers.delete(id);
      void this.readKey(`container:${id}`);
    }, SETTLE_RECHECK_MS);
    timer.unref?.();
    this.settleTimers.set(id, timer);
  }

  /**
   * Re-reads one key ("container:<id>" or a kind) and sends what changed.
   * At most one read per key runs, with at most one queued behind it: a
   * caller always gets a read that STARTS after its call (so it sees the
   * change that prompted it). Resolves to the number of records sent.
   */
  private readKey(key: string): Promise<number> {
    if (!this.active) return Promise.resolve(0);
    if (this.collecting) {
      this.collecting.add(key);
      return Promise.resolve(0);
    }
    const run = this.runs.get(key);
    if (run?.queued) return run.promise;
    const previous = run?.promise ?? Promise.resolve(0);
    const entry = { promise: Promise.resolve(0), queued: true };
    entry.promise = previous
      .then(() => {
        entry.queued = false;
        return key.startsWith("container:") ? this.readContainer(key.slice("container:".length)) : this.readKind(key as Kind);
      })
      .catch((error: unknown) => {
        // Docker unreachable mid-read: the event stream fails too and resyncs; make sure of it.
        this.log("warn", `could not re-read ${key.slice(0, 80)}: ${error instanceof Error ? error.message : String(error)}`);
        this.requestResync("a read failed");
        return 0;
      })
      .finally(() => {
        if (this.runs.get(key) === entry) this.runs.delete(key);
      });
    this.runs.set(key, entry);
    return entry.promise;
  }

  private async readContainer(id: string): Promise<number> {
    const generation = this.generation;
    const record = await getContainerRecord(this.docker, id);
    // A resync started meanwhile: its snapshot is newer than this read.
    if (!this.active || generation !== this.generation) return 0;
    const before = this.reported.get(id);
    if (record) {
      if (before && JSON.stringify(before) === JSON.stringify(record)) return 0;
      this.reported.set(id, record);
      this.sink.change({ kind: "container", op: "upsert", record });
      return 1;
    }
    if (!before) return 0;
    this.reported.delete(id);
    this.sink.change({ kind: "container", op: "remove", id });
    return 1;
  }

  private async readKind(kind: Kind): Promise<number> {
    const generation = this.generation;
    const records: Array<TImageRecord | TVolumeRecord | TNetworkRecord> =
      kind === "image" ? await listImageRecords(this.docker) : kind === "volume" ? await listVolumeRecords(this.docker) : await listNetworkRecords(this.docker);
    if (!this.active || generation !== this.generation) return 0;
    const known = this.reportedKinds[kind];
    const seen = new Map<string, string>();
    let sent = 0;
    for (const record of records) {
      const key = keyOf(kind, record);
      const json = JSON.stringify(record);
      seen.set(key, json);
      if (known.get(key) !== json) {
        this.sink.change({ kind, op: "upsert", record } as TInventoryChange);
        sent++;
      }
    }
    for (const key of known.keys()) {
      if (seen.has(key)) continue;
      this.sink.change({ kind, op: "remove", id: key });
      sent++;
    }
    this.reportedKinds[kind] = seen;
    return sent;
  }

  // ---------------------------------------------------------------- reconciliation

  /** One reconciliation pass (also exported for tests through `reconcileNow`). */
  private async reconcile(): Promise<void> {
    if (!this.active || this.collecting || this.resyncRunning || this.reconciling) return;
    this.reconciling = true;
    const generation = this.generation;
    try {
      const summaries = await this.docker.listContainers({ all: true });
      if (!this.active || generation !== this.generation) return;
      const suspects: string[] = [];
      const listed = new Set<string>();
      for (const summary of summaries) {
        listed.add(summary.Id);
        const sent = this.reported.get(summary.Id);
        if (!sent || listedLine(sent) !== summaryLine(summary)) suspects.push(summary.Id);
      }
      for (const id of this.reported.keys()) if (!listed.has(id)) suspects.push(id);
      let corrected = 0;
      for (let i = 0; i < suspects.length; i += RECONCILE_CONCURRENCY) {
        const batch = suspects.slice(i, i + RECONCILE_CONCURRENCY);
        const sent = await Promise.all(batch.map((id) => this.readKey(`container:${id}`)));
        corrected += sent.reduce((a, b) => a + b, 0);
      }
      if (++this.ticks % KIND_RECONCILE_EVERY === 0) {
        for (const kind of KINDS) corrected += await this.readKey(kind);
      }
      if (!this.active || generation !== this.generation) return;
      if (corrected > 0) {
        this.driftCorrected += corrected;
        this.log("warn", `reconciliation corrected ${corrected} record(s) that Docker's events had not updated`);
      }
      this.sink.reconciled({
        containers: this.reported.size,
        digest: inventoryDigest(this.reported.values()),
        corrected,
        checkedAt: new Date().toISOString(),
      });
    } catch (error) {
      this.log("warn", `reconciliation could not list containers: ${error instanceof Error ? error.message : String(error)}`);
      this.requestResync("reconciliation failed");
    } finally {
      this.reconciling = false;
    }
  }

  /** Runs a reconciliation pass now (tests, and the server's "check now"). */
  reconcileNow(): Promise<void> {
    return this.reconcile();
  }
}
