/**
 * `docker build` (the classic builder, whose output numbers the steps) as a
 * two-way stream: the server sends the context tar in chunks as input frames,
 * Docker's JSON output comes back as lines grouped by step.
 *
 * Context flow control: each chunk is written into the request body Docker
 * reads; once the body took it (at once, or after `drain`) the agent confirms
 * the bytes with a `context` frame, and the server sends only a few chunks
 * beyond what was confirmed. So a 200 MB context costs the agent a couple of
 * MiB, whatever the link. The agent also refuses more bytes than announced
 * (`contextBytes`, itself bounded by the contract) and an end before them.
 *
 * Output flow control as for logs: when the server's window is full the
 * response from Docker is paused. Closing the stream aborts the HTTP request:
 * dockerd cancels the build and removes its intermediate container.
 *
 * Registry credentials (X-Registry-Config) come with the request and go only
 * into Docker's header: the agent neither stores nor logs them.
 */
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { dockerErrorMessage } from "./client.ts";
import {
  BUILD_OUTPUT_BATCH_MAX_LINES,
  LOG_LINE_MAX_CHARS,
  type TBuildLine,
  type TBuildStep,
  type TImageBuildInput,
  type TImageBuildOutput,
  type TImageBuildParams,
} from "../protocol.ts";
import { jsonLines } from "./json-lines.ts";

const FLUSH_MS = 50;
/** Lines waiting for the window beyond this pause Docker's response. */
const MAX_PENDING_LINES = 2_000;
const STEP = /^Step (\d+)\/(\d+) : ([\s\S]*)$/;

type DockerBuildLine = {
  stream?: string;
  status?: string;
  id?: string;
  progressDetail?: { current?: number };
  aux?: { ID?: string };
  error?: string;
  errorDetail?: { message?: string };
};

export type BuildSink = {
  /** Answers false when the window is full: hold until `resume()`. */
  data(frame: TImageBuildOutput): boolean;
  end(error: Error | null): void;
};

export type OpenBuild = { stop(): void; resume(): void; heldItems(): number; input(input: TImageBuildInput): void };

/** Docker's build options from the contract's params (names as the Engine API spells them). */
export function buildOptions(params: TImageBuildParams): Record<string, unknown> {
  const options: Record<string, unknown> = {
    t: params.tags,
    dockerfile: params.dockerfile,
    rm: true,
    forcerm: true,
    // The classic builder: it numbers steps ("Step 3/7 : …") and needs no session (dockerd 20.10's BuildKit would).
    version: "1",
  };
  if (Object.keys(params.buildArgs).length) options.buildargs = params.buildArgs;
  if (Object.keys(params.labels).length) options.labels = params.labels;
  if (params.target) options.target = params.target;
  if (params.noCache) options.nocache = true;
  if (params.pull) options.pull = true;
  if (params.registryConfig) options.registryconfig = params.registryConfig;
  return options;
}

export function openImageBuild(docker: Docker, params: TImageBuildParams, sink: BuildSink): OpenBuild {
  const context = new PassThrough({ highWaterMark: 1024 * 1024 });
  const abort = new AbortController();
  let response: IncomingMessage | null = null;
  let received = 0;
  let waitingDrain = false;
  let stopped = false;
  let finished = false;
  let ending: Error | null | undefined; // set once Docker's answer ended (undefined: not yet)

  let imageId: string | null = null;
  let step: TBuildStep | null = null;
  let failure: string | null = null;
  let text = ""; // Docker's `stream` text not yet ended by a newline
  const pending: TBuildLine[] = [];
  let held = false;
  let paused = false;

  const line = (kind: TBuildLine["kind"], value: string) => {
    for (let at = 0; at < Math.max(value.length, 1); at += LOG_LINE_MAX_CHARS) {
      pending.push({ kind, text: value.slice(at, at + LOG_LINE_MAX_CHARS), step: step?.number ?? null });
    }
  };
  const textLine = (value: string) => {
    const heading = STEP.exec(value);
    if (heading) {
      step = { number: Number(heading[1]), total: Number(heading[2]), instruction: heading[3]!.slice(0, LOG_LINE_MAX_CHARS) };
      line("step", value);
    } else line("text", value);
  };
  const take = (message: DockerBuildLine) => {
    if (message.error || message.errorDetail?.message) {
      failure = String(message.errorDetail?.message ?? message.error).slice(0, 8192);
      line("error", failure);
      return;
    }
    if (message.aux?.ID && /^sha256:[0-9a-f]{64}$/.test(message.aux.ID)) imageId = message.aux.ID;
    if (typeof message.stream === "string") {
      text += message.stream;
      let newline = text.indexOf("\n");
      while (newline >= 0) {
        textLine(text.slice(0, newline));
        text = text.slice(newline + 1);
        newline = text.indexOf("\n");
      }
      if (text.length > LOG_LINE_MAX_CHARS) {
        textLine(text);
        text = "";
      }
    } else if (typeof message.status === "string" && message.progressDetail?.current === undefined) {
      // A base image being pulled (--pull): its status lines, not its byte-by-byte progress.
      line("text", message.id ? `${message.id}: ${message.status}` : message.status);
    }
  };

  const finish = () => {
    if (finished || stopped) return;
    finished = true;
    clearInterval(timer);
    const error = ending ?? null;
    if (error && !failure) failure = dockerErrorMessage(error).slice(0, 8192);
    sink.data({ kind: "done", imageId: failure ? null : imageId, error: failure ? { message: failure, step } : null });
    sink.end(null);
  };
  const flush = () => {
    if (stopped || finished) return;
    while (pending.length && !held) {
      if (!sink.data({ kind: "output", lines: pending.splice(0, BUILD_OUTPUT_BATCH_MAX_LINES) })) held = true;
    }
    if (paused && pending.length < MAX_PENDING_LINES / 4 && !held) {
      paused = false;
      response?.resume();
    }
    // The end goes out once every line before it did.
    if (ending !== undefined && !pending.length) finish();
  };
  const timer = setInterval(flush, FLUSH_MS);

  const follow = (res: IncomingMessage) => {
    response = res;
    if (stopped) return void res.destroy();
    res.setEncoding("utf8");
    const feed = jsonLines<DockerBuildLine>(take);
    res.on("data", (chunk: string) => {
      feed(chunk);
      if (pending.length > MAX_PENDING_LINES && !paused) {
        paused = true;
        res.pause();
      }
    });
    const ended = (error: Error | null) => {
      if (ending !== undefined) return;
      if (text) textLine(text);
      text = "";
      ending = error;
      flush();
    };
    res.on("end", () => ended(null));
    res.on("close", () => ended(null));
    res.on("error", (error) => ended(error));
  };

  (docker.buildImage(context, { ...buildOptions(params), abortSignal: abort.signal }) as Promise<IncomingMessage>).then(follow, (error: unknown) => {
    if (ending !== undefined) return;
    ending = error instanceof Error ? error : new Error(String(error));
    flush();
  });

  const fail = (message: string) => {
    if (stopped || finished) return;
    abort.abort();
    context.destroy();
    ending = new Error(message);
    failure = message;
    pending.length = 0;
    flush();
  };
  const confirm = () => {
    waitingDrain = false;
    if (!stopped && !finished) sink.data({ kind: "context", received });
  };
  context.on("drain", () => {
    if (waitingDrain) confirm();
  });
  context.on("error", () => undefined); // the request reports its own failure

  return {
    stop() {
      stopped = true;
      clearInterval(timer);
      abort.abort();
      context.destroy();
      (response as IncomingMessage | null)?.destroy();
    },
    resume() {
      held = false;
      flush();
    },
    heldItems: () => pending.length,
    input(input) {
      if (stopped || finished || ending !== undefined) return;
      if (input.kind === "end") {
        if (received !== params.contextBytes) return fail(`The build context ended after ${received} of ${params.contextBytes} bytes`);
        context.end();
        return;
      }
      received += input.bytes.byteLength;
      if (received > params.contextBytes) return fail(`The build context is larger than the ${params.contextBytes} bytes announced`);
      // Copied: the frame must not pin the socket's larger read buffer while Docker reads.
      if (context.write(Buffer.from(input.bytes)) && !waitingDrain) confirm();
      else waitingDrain = true;
    },
  };
}
