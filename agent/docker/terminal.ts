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
  opts: { demux: boolean; onInput: ((input: TTerminalInput) => void) | null; exitCode: () => Promise<number | null> },
): OpenTerminal {
  let stopped = false;
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
      if (input.kind === "resize") return opts.onInput?.(input);
      if (!opts.onInput) return; // read-only attach: keystrokes go nowhere
      if (connection.writableLength > MAX_PENDING_INPUT_BYTES) {
        stopped = true;
        connection.destroy();
        sink.end(new Error("The process stopped reading its input; the terminal was closed"));
        return;
      }
      connection.write(input.data);
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
  const resize = (size: { cols: number; rows: number }) =>
    void exec.resize({ h: size.rows, w: size.cols }).catch(() => undefined); // a resize racing the exit is harmless
  resize(params);
  return pump(connection, sink, {
    demux: false,
    onInput: (input) => (input.kind === "resize" ? resize(input) : undefined),
    exitCode: async () => ((await exec.inspect()).ExitCode ?? null),
  });
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
  const resize = (size: { cols: number; rows: number }) => void container.resize({ h: size.rows, w: size.cols }).catch(() => undefined);
  if (stdin && tty) resize(params);
  return pump(connection, sink, {
    demux: !tty,
    onInput: stdin ? (input) => (input.kind === "resize" ? (tty ? resize(input) : undefined) : undefined) : null,
    exitCode: async () => {
      const state = (await container.inspect()).State;
      return state.Running ? null : (state.ExitCode ?? null);
    },
  });
}
