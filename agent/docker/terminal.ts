/**
 * Interactive terminals: `docker exec -it` (a new process with a TTY) and
 * `docker attach` (the container's main process). Both are Docker's hijacked
 * HTTP connection: bytes in, bytes out, passed on undecoded.
 *
 * Flow control: output goes out in frames of at most TERMINAL_CHUNK_MAX_BYTES;
 * when the server has not acknowledged enough frames, `output()` answers false
 * and the Docker connection is paused, so a program flooding its terminal
 * (`cat /dev/urandom`) waits in the kernel's socket buffers, not in the
 * agent's memory. Input is bounded the other way: if the process does not
 * read its stdin and more than MAX_PENDING_INPUT_BYTES queue up, the session
 * is ended rather than buffered without limit.
 *
 * Order: Docker takes a resize as its own HTTP request while keystrokes go
 * down the hijacked connection, so nothing orders the two. A command typed
 * right after a resize (`stty size`, a full-screen program starting) could run
 * before the TTY had its new size, and right after an exec started, before
 * it had any size (0×0). Input that arrives while a resize is in flight waits
 * for it: the process sees resizes and keystrokes in the order they were made.
 */
import { isUtf8 } from "node:buffer";
import type { Duplex } from "node:stream";
import type Docker from "dockerode";
import {
  TERMINAL_CHUNK_MAX_BYTES,
  TERMINAL_TEXT_MAX_BYTES,
  type TContainerAttachParams,
  type TContainerExecParams,
  type TTerminalInput,
  type TTerminalOutputWire,
} from "../protocol.ts";

/** Input written to the process and not yet taken by Docker; a stuck stdin beyond this ends the session. */
export const MAX_PENDING_INPUT_BYTES = 1024 * 1024;

/** A resize Docker has not answered after this long no longer holds the input back (dockerd's own wait is 10 s). */
const RESIZE_ORDER_MAX_WAIT_MS = 10_000;

/** Output chunks up to this size, arriving alone while nothing is in flight, are sent at once instead of gathered (see `queue`). */
const ECHO_MAX_BYTES = 512;

export type TerminalSink = {
  /** Answers false when the window is full: hold until `resume()`. */
  output(frame: TTerminalOutputWire): boolean;
  /** Whether every frame sent so far was acknowledged (nothing in flight). */
  idle(): boolean;
  end(error: Error | null): void;
};

/** A frame for these bytes: small valid UTF-8 as text (one WebSocket message instead of two, see TERMINAL_TEXT_MAX_BYTES), else a copy of the bytes. */
export function outputFrame(bytes: Buffer): TTerminalOutputWire {
  if (bytes.length <= TERMINAL_TEXT_MAX_BYTES && isUtf8(bytes)) return { text: bytes.toString("utf8") };
  // Copied: the frame must not pin the socket's larger read buffer.
  return { bytes: new Uint8Array(bytes) };
}

export type OpenTerminal = { stop(): void; resume(): void; input(input: TTerminalInput): void; heldItems(): number };

/**
 * Pumps a hijacked Docker connection into the sink in bounded frames, pausing
 * it while the window is full. `demux` set = a non-TTY attach, whose bytes are
 * Docker's multiplexed frames (stdout and stderr both go to the terminal).
 */
function pump(
  connection: Duplex,
  sink: TerminalSink,
  opts: {
    demux: boolean;
    /** False: a read-only attach, whose keystrokes go nowhere. */
    writable: boolean;
    /** Applies a size to the TTY (null: the size is not this terminal's to change). */
    resize: ((size: { cols: number; rows: number }) => Promise<unknown>) | null;
    exitCode: () => Promise<number | null>;
  },
): OpenTerminal {
  let stopped = false;
  /** Resizes in flight and the input held behind them, in arrival order; null when nothing is held. */
  let ordered: Promise<void> | null = null;
  let heldInputBytes = 0;
  const after = (step: () => Promise<unknown> | void) => {
    const next: Promise<void> = (ordered ?? Promise.resolve()).then(step).then(
      () => undefined,
      () => undefined, // a resize racing the exit is harmless
    );
    ordered = next;
    void next.then(() => {
      if (ordered === next) ordered = null;
    });
  };
  let paused = false;
  let pending: Buffer = Buffer.alloc(0);

  const send = (bytes: Buffer) => {
    for (let at = 0; at < bytes.length; at += TERMINAL_CHUNK_MAX_BYTES) {
      const open = sink.output(outputFrame(bytes.subarray(at, at + TERMINAL_CHUNK_MAX_BYTES)));
      if (!open && !paused) {
        paused = true;
        connection.pause();
      }
    }
  };

  // Chunks that arrive together go out as one frame (up to the frame size): a flood then costs one
  // frame per 64 KiB instead of one per socket read, while a keystroke's echo still leaves at once.
  let outbox: Buffer[] = [];
  let outboxBytes = 0;
  let flushScheduled = false;
  const flush = () => {
    flushScheduled = false;
    if (stopped || !outboxBytes) return;
    const bytes = outbox.length === 1 ? outbox[0]! : Buffer.concat(outbox, outboxBytes);
    outbox = [];
    outboxBytes = 0;
    send(bytes);
  };
  const queue = (bytes: Buffer) => {
    // A lone small chunk while nothing is in flight (a keystroke's echo, a prompt) leaves now: waiting
    // a turn of the loop for company that rarely comes costs every keystroke. While frames are in
    // flight (a flood, even one of small writes) chunks are gathered, as TCP's Nagle does: fewer,
    // larger frames for the page to parse and acknowledge.
    if (!flushScheduled && bytes.length <= ECHO_MAX_BYTES && sink.idle()) return send(bytes);
    outbox.push(bytes);
    outboxBytes += bytes.length;
    if (outboxBytes >= TERMINAL_CHUNK_MAX_BYTES) flush();
    else if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  };

  connection.on("data", (chunk: Buffer) => {
    if (stopped) return;
    if (!opts.demux) return queue(chunk);
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      const payload = pending.subarray(8, 8 + size);
      pending = pending.subarray(8 + size);
      if (pending.length === 0) pending = Buffer.alloc(0);
      queue(Buffer.from(payload));
    }
  });
  let finished = false;
  const finish = (error: Error | null) => {
    if (finished) return;
    finished = true;
    flush(); // what arrived last goes before the end
    if (stopped) return sink.end(null);
    opts
      .exitCode()
      .catch(() => null)
      .then((exitCode) => {
        if (!error) sink.output({ exitCode });
        sink.end(error);
      });
  };
  connection.on("end", () => finish(null));
  connection.on("close", () => finish(null));
  connection.on("error", (error: Error) => finish(error));

  return {
    stop() {
      stopped = true;
      connection.destroy();
    },
    resume() {
      if (!paused || stopped) return;
      paused = false;
      connection.resume();
    },
    heldItems: () => (paused ? 1 : 0),
    input(input) {
      if (stopped) return;
      if (input.kind === "resize") {
        const resize = opts.resize;
        if (!resize) return;
        const size = { cols: input.cols, rows: input.rows };
        return after(() => {
          if (stopped) return;
          let timer: NodeJS.Timeout | undefined;
          const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, RESIZE_ORDER_MAX_WAIT_MS)));
          return Promise.race([resize(size), waited]).finally(() => clearTimeout(timer));
        });
      }
      if (!opts.writable) return; // read-only attach: keystrokes go nowhere
      const data = input.data;
      const length = Buffer.byteLength(data);
      if (connection.writableLength + heldInputBytes > MAX_PENDING_INPUT_BYTES) {
        stopped = true;
        connection.destroy();
        sink.end(new Error("The process stopped reading its input; the terminal was closed"));
        return;
      }
      if (!ordered) return void connection.write(data);
      heldInputBytes += length;
      after(() => {
        heldInputBytes -= length;
        if (!stopped) connection.write(data);
      });
    },
  };
}

/** `docker exec -it <container> <cmd>` with the given user, working directory, env and size. */
export async function openExec(docker: Docker, params: TContainerExecParams, sink: TerminalSink): Promise<OpenTerminal> {
  const container = docker.getContainer(params.containerId);
  const exec = await container.exec({
    Cmd: params.cmd,
    User: params.user || undefined,
    WorkingDir: params.workingDir || undefined,
    // TERM makes full-screen programs (top, vi) draw for xterm.js; the caller's env may override it.
    Env: ["TERM=xterm-256color", ...params.env],
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: true,
  });
  const connection = (await exec.start({ hijack: true, stdin: true, Tty: true })) as Duplex;
  const terminal = pump(connection, sink, {
    demux: false,
    writable: true,
    resize: (size) => exec.resize({ h: size.rows, w: size.cols }),
    exitCode: async () => ((await exec.inspect()).ExitCode ?? null),
  });
  // Docker 20.10 (API 1.41) starts an exec's TTY at 0×0: the first input waits for this size.
  terminal.input({ kind: "resize", cols: params.cols, rows: params.rows });
  return terminal;
}

/**
 * `docker attach`: the main process's output (and, with `stdin`, its input).
 * A container without a TTY sends multiplexed frames; they are unwrapped so
 * the terminal shows both streams. Resizing is only done for a writer: the
 * container's TTY is shared with everyone attached.
 */
export async function openAttach(docker: Docker, params: TContainerAttachParams, sink: TerminalSink): Promise<OpenTerminal> {
  const container = docker.getContainer(params.containerId);
  const info = await container.inspect();
  if (!info.State.Running) throw Object.assign(new Error("The container is not running"), { statusCode: 409 });
  const tty = Boolean(info.Config.Tty);
  const stdin = params.stdin && Boolean(info.Config.OpenStdin);
  const connection = (await container.attach({ stream: true, stdin, stdout: true, stderr: true, hijack: true })) as unknown as Duplex;
  const terminal = pump(connection, sink, {
    demux: !tty,
    writable: stdin,
    resize: stdin && tty ? (size) => container.resize({ h: size.rows, w: size.cols }) : null,
    exitCode: async () => {
      const state = (await container.inspect()).State;
      return state.Running ? null : (state.ExitCode ?? null);
    },
  });
  terminal.input({ kind: "resize", cols: params.cols, rows: params.rows });
  return terminal;
}
