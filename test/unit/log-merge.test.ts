import { describe, expect, it } from "vitest";
import { mergeLines, type SourcedLine } from "../../app/_lib/log-merge.ts";

const line = (sourceIndex: number, ts: string, text: string): SourcedLine => ({ stream: "stdout", ts: `2026-11-26T10:00:${ts}Z`, text, sourceIndex });

describe("merging logs of several containers by Docker's timestamp", () => {
  it("appends newer lines and merges a late batch in at its place", () => {
    let buffer = mergeLines([], [line(0, "01.000000001", "a1"), line(0, "03.000000000", "a3")]);
    buffer = mergeLines(buffer, [line(1, "02.000000000", "b2"), line(1, "04.000000000", "b4")]);
    buffer = mergeLines(buffer, [line(0, "05.000000000", "a5")]);
    expect(buffer.map((l) => l.text)).toEqual(["a1", "b2", "a3", "b4", "a5"]);
  });

  it("orders equal timestamps by source, and keeps a source's own order for ties", () => {
    let buffer = mergeLines([], [line(1, "01.000000000", "b-first"), line(1, "01.000000000", "b-second")]);
    buffer = mergeLines(buffer, [line(0, "01.000000000", "a")]);
    expect(buffer.map((l) => l.text)).toEqual(["a", "b-first", "b-second"]);
  });

  it("compares nanoseconds, not milliseconds", () => {
    const buffer = mergeLines([line(0, "01.000000002", "later")], [line(1, "01.000000001", "earlier")]);
    expect(buffer.map((l) => l.text)).toEqual(["earlier", "later"]);
  });
});
