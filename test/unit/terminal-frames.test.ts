/**
 * Terminal output frames stay binary-safe whichever way they travel: a small
 * frame of valid UTF-8 goes as text, anything else as bytes, and after the
 * receiver's parse (through JSON, as socket.io carries text) the bytes are
 * exactly the ones the process wrote. The expected bytes are the inputs
 * themselves, written out here.
 */
import { describe, expect, it } from "vitest";
import { outputFrame } from "../../agent/docker/terminal.ts";
import { TERMINAL_TEXT_MAX_BYTES, ZTerminalOutput } from "../../agent/protocol.ts";
import { ZTerminalData } from "../../server/gateway/browser-protocol.ts";

/** What the server gets: text frames through JSON (socket.io's text packet), binary ones as they are. */
function receive(frame: ReturnType<typeof outputFrame>): Uint8Array {
  const wire = "text" in frame ? JSON.parse(JSON.stringify(frame)) : frame;
  const parsed = ZTerminalOutput.safeParse(wire);
  if (!parsed.success || !("bytes" in parsed.data)) throw new Error("not parsed as output bytes");
  return parsed.data.bytes;
}

const cases: Array<[string, number[]]> = [
  ["one echoed key", [0x6b]],
  ["a prompt with colours", [...Buffer.from("\x1b[1;32mroot@box\x1b[0m:/# ")]],
  ["NUL and every control byte", Array.from({ length: 32 }, (_, i) => i)],
  ["a box-drawing character", [0xe2, 0x94, 0x80]],
  ["an emoji (a surrogate pair in UTF-16)", [0xf0, 0x9f, 0x98, 0x80]],
  ["a byte-order mark", [0xef, 0xbb, 0xbf, 0x41]],
  ["a character cut after its first byte", [0x41, 0xe2]],
  ["a character cut after two bytes", [0xe2, 0x94]],
  ["continuation bytes alone (the rest of a cut character)", [0x80, 0x41]],
  ["an encoded surrogate (not UTF-8)", [0xed, 0xa0, 0x80]],
  ["an overlong NUL", [0xc0, 0x80]],
  ["Latin-1, not UTF-8", [0xe9, 0x74, 0xe9]],
  ["every byte value", Array.from({ length: 256 }, (_, i) => i)],
];

describe("terminal output frames", () => {
  for (const [name, bytes] of cases) {
    it(`carries ${name} unchanged`, () => {
      expect(Array.from(receive(outputFrame(Buffer.from(bytes))))).toEqual(bytes);
    });
  }

  it("sends small valid UTF-8 as text and everything else as bytes", () => {
    expect(outputFrame(Buffer.from("k"))).toEqual({ text: "k" });
    expect(outputFrame(Buffer.from([0xe2, 0x94]))).toHaveProperty("bytes");
    expect(outputFrame(Buffer.alloc(TERMINAL_TEXT_MAX_BYTES, 0x78))).toHaveProperty("text");
    expect(outputFrame(Buffer.alloc(TERMINAL_TEXT_MAX_BYTES + 1, 0x78))).toHaveProperty("bytes");
  });

  it("carries random chunks of random bytes and of cut UTF-8 unchanged", () => {
    const text = Buffer.from("héllo wörld ─│┌ 😀 \x1b[31mred\x1b[0m\r\n".repeat(40));
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31);
    for (let i = 0; i < 500; i++) {
      const source = i % 2 ? text : Buffer.from(Array.from({ length: 600 }, () => next() % 256));
      const start = next() % source.length;
      const chunk = source.subarray(start, start + 1 + (next() % 600));
      expect(Buffer.from(receive(outputFrame(chunk))).equals(chunk)).toBe(true);
    }
  });

  it("refuses a text frame past the text size and an empty one", () => {
    expect(ZTerminalOutput.safeParse({ text: "x".repeat(TERMINAL_TEXT_MAX_BYTES + 1) }).success).toBe(false);
    expect(ZTerminalOutput.safeParse({ text: "" }).success).toBe(false);
    expect(ZTerminalOutput.safeParse({ text: 42 }).success).toBe(false);
  });

  it("lets the page's frame schema take both shapes", () => {
    expect(ZTerminalData.safeParse({ terminalId: "t", seq: 1, text: "k" }).success).toBe(true);
    expect(ZTerminalData.safeParse({ terminalId: "t", seq: 1, bytes: new Uint8Array([1]) }).success).toBe(true);
    expect(ZTerminalData.safeParse({ terminalId: "t", seq: 1 }).success).toBe(false);
  });
});
