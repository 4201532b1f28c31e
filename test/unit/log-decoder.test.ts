import { describe, expect, it } from "vitest";
import { LogDecoder } from "../../agent/docker/logs.ts";
import { LOG_LINE_MAX_CHARS, type TLogLine } from "../../agent/protocol.ts";

/** One frame of Docker's multiplexed log format: [stream, 0, 0, 0, size u32 BE] + payload. */
function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text, "utf8");
  const header = Buffer.alloc(8);
  header[0] = stream;
  header.writeUInt32BE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

function decode(tty: boolean, chunks: Buffer[]): TLogLine[] {
  const lines: TLogLine[] = [];
  const decoder = new LogDecoder(tty, (line) => lines.push(line));
  for (const chunk of chunks) decoder.push(chunk);
  decoder.end();
  return lines;
}

/** Every way of cutting `bytes` into two chunks. */
function everySplit(bytes: Buffer): Buffer[][] {
  return Array.from({ length: bytes.length + 1 }, (_, i) => [bytes.subarray(0, i), bytes.subarray(i)]);
}

const TS = "2026-11-23T10:00:00.123456789Z";

describe("LogDecoder", () => {
  it("splits multiplexed frames into stdout and stderr lines with Docker's timestamps", () => {
    const bytes = Buffer.concat([frame(1, `${TS} hello\n`), frame(2, `${TS} oops\n`)]);
    expect(decode(false, [bytes])).toEqual([
      { stream: "stdout", ts: TS, text: "hello" },
      { stream: "stderr", ts: TS, text: "oops" },
    ]);
  });

  it("gives the same lines however the bytes are cut (inside headers, lines and UTF-8 characters)", () => {
    const bytes = Buffer.concat([frame(1, `${TS} héllo wörld ✓\n${TS} second\n`), frame(2, `${TS} ünïcode\n`)]);
    const whole = decode(false, [bytes]);
    expect(whole.map((l) => l.text)).toEqual(["héllo wörld ✓", "second", "ünïcode"]);
    for (const chunks of everySplit(bytes)) expect(decode(false, chunks)).toEqual(whole);
  });

  it("reads a TTY container's raw bytes as stdout and strips carriage returns", () => {
    const bytes = Buffer.from(`${TS} one\r\n${TS} two\r\n`);
    for (const chunks of everySplit(bytes)) {
      expect(decode(true, chunks)).toEqual([
        { stream: "stdout", ts: TS, text: "one" },
        { stream: "stdout", ts: TS, text: "two" },
      ]);
    }
  });

  it("emits a last line without a newline when the log ends", () => {
    expect(decode(false, [frame(1, `${TS} no newline`)])).toEqual([{ stream: "stdout", ts: TS, text: "no newline" }]);
  });

  it("keeps a line without a timestamp as it is", () => {
    expect(decode(true, [Buffer.from("plain line\n")])).toEqual([{ stream: "stdout", ts: "", text: "plain line" }]);
  });

  it("passes a runaway line on in bounded pieces, whole or never terminated, losing nothing", () => {
    const long = "x".repeat(LOG_LINE_MAX_CHARS * 2) + "y".repeat(100);
    for (const bytes of [Buffer.from(long + "\n"), Buffer.from(long)]) {
      const chunks = [bytes.subarray(0, 5000), bytes.subarray(5000, 40_000), bytes.subarray(40_000)];
      const lines = decode(true, chunks);
      expect(lines.length).toBe(3);
      for (const line of lines) expect(line.text.length).toBeLessThanOrEqual(LOG_LINE_MAX_CHARS);
      expect(lines.map((l) => l.text).join("")).toBe(long);
    }
  });

  it("skips frames that are not stdout or stderr", () => {
    const bytes = Buffer.concat([frame(1, "a\n"), Buffer.from([7, 0, 0, 0, 0, 0, 0, 2, 0x41, 0x41]), frame(2, "b\n")]);
    expect(decode(false, [bytes]).map((l) => [l.stream, l.text])).toEqual([
      ["stdout", "a"],
      ["stderr", "b"],
    ]);
  });
});
