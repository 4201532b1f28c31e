/**
 * Server-side pub/sub for live updates to browsers.
 *
 * Callers only see this interface. Today it is in-process; a deployment with
 * several server replicas swaps in an implementation over Postgres
 * LISTEN/NOTIFY without touching publishers or subscribers.
 */
import { EventEmitter } from "node:events";

export type FleetEvent =
  | { type: "host.changed"; hostId: string }
  | { type: "host.removed"; hostId: string }
  | { type: "inventory.changed"; hostId: string; kinds: Array<"container" | "image" | "volume" | "network"> }
  | { type: "audit.appended"; seq: string }
  /** A user's sessions, memberships or role changed: their open streams re-check access. */
  | { type: "access.changed"; userId: string | null };

export interface EventBus {
  publish(event: FleetEvent): void;
  /** Returns the unsubscribe function. */
  subscribe(listener: (event: FleetEvent) => void): () => void;
}

export class InProcessEventBus implements EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    // One listener per open browser subscription; the default cap of 10 is a false alarm here.
    this.emitter.setMaxListeners(0);
  }

  publish(event: FleetEvent): void {
    this.emitter.emit("fleet", event);
  }

  subscribe(listener: (event: FleetEvent) => void): () => void {
    this.emitter.on("fleet", listener);
    return () => this.emitter.off("fleet", listener);
  }
}
