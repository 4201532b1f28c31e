import { describe, expect, it } from "vitest";
import { jsonLines } from "../../agent/docker/json-lines.ts";

describe("jsonLines: Docker's newline-delimited JSON, cut anywhere by the socket", () => {
  it("hands over each whole object once, whatever the chunking, and skips what is not JSON", () => {
    const text = '{"status":"a"}\n\n{"status":"b","progressDetail":{"current":1}}\nnot json\n{"status":"c"}\n';
    const expected = [{ status: "a" }, { status: "b", progressDetail: { current: 1 } }, { status: "c" }];
    for (const size of [1, 2, 7, text.length]) {
      const seen: unknown[] = [];
      const feed = jsonLines((value) => seen.push(value));
      for (let at = 0; at < text.length; at += size) feed(Buffer.from(text.slice(at, at + size)));
      expect(seen, `chunks of ${size}`).toEqual(expected);
    }
  });

  it("keeps an unfinished line until its newline, and drops one that grows past the bound", () => {
    const seen: unknown[] = [];
    const feed = jsonLines((value) => seen.push(value), 16);
    feed('{"a":');
    expect(seen).toEqual([]);
    feed("1}\n");
    expect(seen).toEqual([{ a: 1 }]);
    feed('{"long":"' + "x".repeat(40));
    feed('"}\n{"b":2}\n');
    expect(seen).toEqual([{ a: 1 }, { b: 2 }]);
  });
});
