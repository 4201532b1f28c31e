/**
 * Follows Docker's event stream and turns each event into inventory changes.
 *
 * Events are hints, not data: for a container we re-read that container; for
 * images, volumes and networks (rare, cheap to list) we re-list the kind and
 * diff against what we last reported. Re-reading means an event that arrives
 * late or twice still yields the true current state.
 */
import { EventEmitter } from "node:events";
import type Docker from "dockerode";
import type { TImageRecord, TInventoryChange, TNetworkRecord, TVolumeRecord } from "../protocol.ts";
import { getContainerRecord, listImageRecords, listNetworkRecords, listVolumeRecords } from "./inventory.ts";

type DockerEvent = { Type?: string; Action?: string; Actor?: { ID?: string } };

/** Container actions that do not change what Berth shows. */
const IGNORED_CONTAINER_ACTIONS = /^(exec_|attach|detach|resize|top|archive-path|extract-to-dir|copy|export|commit)/;

type Kind = "image" | "volume" | "network";

export class DockerEventFollower extends EventEmitter<{
  change: [TInventoryChange];
  streamError: [Error];
}> {
  private stream: NodeJS.ReadableStream | null = null;
  private stopped = false;
  private readonly refreshing = new Map<string, Promise<void>>();
  private readonly dirty = new Set<string>();
  private known: { image: Map<string, string>; volume: Map<string, string>; network: Map<string, string> } = {
    image: new Map(),
    volume: new Map(),
    network: new Map(),
  };

  constructor(private readonly docker: Docker) {
    super();
  }

  /** The last snapshot's objects: the baseline for later diffs. */
  setBaseline(images: TImageRecord[], volumes: TVolumeRecord[], networks: TNetworkRecord[]) {
    this.known.image = new Map(images.map((r) => [r.id, JSON.stringify(r)]));
    this.known.volume = new Map(volumes.map((r) => [r.name, JSON.stringify(r)]));
    this.known.network = new Map(networks.map((r) => [r.id, JSON.stringify(r)]));
  }

  async start(): Promise<void> {
    this.stopped = false;
    const stream = (await this.docker.getEvents({})) as NodeJS.ReadableStream;
    this.stream = stream;
    let buffer = "";
    stream.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      let newline: number;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = buffer.slice(0, newline).trim();
        buffer = buffer.slice(newline + 1);
        if (line) this.onLine(line);
      }
    });
    const ended = (error?: Error) => {
      if (this.stream !== stream || this.stopped) return;
      this.stream = null;
      this.emit("streamError", error ?? new Error("Docker event stream ended"));
    };
    stream.on("error", ended);
    stream.on("end", () => ended());
    stream.on("close", () => ended());
  }

  stop() {
    this.stopped = true;
    const stream = this.stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    this.stream = null;
    stream?.destroy?.();
  }

  private onLine(line: string) {
    let event: DockerEvent;
    try {
      event = JSON.parse(line) as DockerEvent;
    } catch {
      return;
    }
    const id = event.Actor?.ID;
    if (event.Type === "container" && id) {
      if (IGNORED_CONTAINER_ACTIONS.test(event.Action ?? "")) return;
      this.schedule(`container:${id}`, () => this.refreshContainer(id));
    } else if (event.Type === "image" || event.Type === "volume" || event.Type === "network") {
      const kind = event.Type;
      this.schedule(kind, () => this.refreshKind(kind));
    }
  }

  /** Coalesces bursts: at most one refresh in flight per key, plus one queued. */
  private schedule(key: string, refresh: () => Promise<void>) {
    if (this.refreshing.has(key)) {
      this.dirty.add(key);
      return;
    }
    const run = async (): Promise<void> => {
      try {
        await refresh();
      } catch (error) {
        this.emit("streamError", error instanceof Error ? error : new Error(String(error)));
      }
      if (this.dirty.delete(key)) return run();
    };
    const promise = run().finally(() => this.refreshing.delete(key));
    this.refreshing.set(key, promise);
  }

  private async refreshContainer(id: string) {
    const record = await getContainerRecord(this.docker, id);
    this.emit("change", record ? { kind: "container", op: "upsert", record } : { kind: "container", op: "remove", id });
  }

  private async refreshKind(kind: Kind) {
    const records =
      kind === "image"
        ? await listImageRecords(this.docker)
        : kind === "volume"
          ? await listVolumeRecords(this.docker)
          : await listNetworkRecords(this.docker);
    const known = this.known[kind];
    const seen = new Map<string, string>();
    for (const record of records) {
      const key = "name" in record && kind === "volume" ? (record as TVolumeRecord).name : (record as { id: string }).id;
      const json = JSON.stringify(record);
      seen.set(key, json);
      if (known.get(key) !== json) this.emit("change", { kind, op: "upsert", record } as TInventoryChange);
    }
    for (const key of known.keys()) {
      if (!seen.has(key)) this.emit("change", { kind, op: "remove", id: key });
    }
    this.known[kind] = seen;
  }
}
