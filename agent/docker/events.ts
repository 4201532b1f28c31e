/**
 * Docker's event stream (`GET /events`), as parsed objects.
 *
 * A thin wrapper: one stream per instance, `stop()` destroys it so a restart
 * never leaves the old HTTP response (and its listeners) behind. Deciding
 * what an event means for the inventory is agent/sync's job.
 */
import type Docker from "dockerode";
import { jsonLines } from "./json-lines.ts";

export type DockerEvent = { Type?: string; Action?: string; Actor?: { ID?: string; Attributes?: Record<string, string> } };

export class DockerEventStream {
  private stream: (NodeJS.ReadableStream & { destroy?: () => void }) | null = null;
  private stopped = false;

  constructor(private readonly docker: Docker) {}

  /**
   * Resolves once Docker has accepted the subscription: every event from then
   * on reaches `onEvent`. `onEnd` is called once if the stream ends or fails
   * by itself (dockerd restarted, socket gone), never after `stop()`.
   */
  async start(handlers: { onEvent: (event: DockerEvent) => void; onEnd: (error: Error) => void }): Promise<void> {
    const stream = (await this.docker.getEvents({})) as NodeJS.ReadableStream & { destroy?: () => void };
    if (this.stopped) {
      stream.destroy?.();
      return;
    }
    this.stream = stream;
    // Docker sends one JSON object per line; a "line" over 1 MiB is not an event.
    stream.on("data", jsonLines<DockerEvent>((event) => handlers.onEvent(event), 1024 * 1024));
    let ended = false;
    const end = (error?: Error) => {
      if (ended || this.stopped) return;
      ended = true;
      this.stream = null;
      handlers.onEnd(error ?? new Error("Docker event stream ended"));
    };
    stream.on("error", end);
    stream.on("end", () => end());
    stream.on("close", () => end());
  }

  stop(): void {
    this.stopped = true;
    const stream = this.stream;
    this.stream = null;
    stream?.destroy?.();
  }
}
