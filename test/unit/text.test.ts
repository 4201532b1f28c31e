/**
 * Text Postgres cannot store (NUL, unpaired surrogates) is found at the edge
 * and made storable where the server writes it itself (the audit trail).
 * Expected values are spelled out here, not derived from the code.
 */
import { describe, expect, it } from "vitest";
import { redactSecrets } from "../../server/services/audit/append.ts";
import { findUnstorableText, storableText } from "../../server/text.ts";

describe("storable text", () => {
  it("replaces NUL and unpaired surrogates, keeps real pairs", () => {
    expect(storableText("a\u0000b")).toBe("a\ufffdb");
    expect(storableText("x\ud800")).toBe("x\ufffd");
    expect(storableText("\udfffy")).toBe("\ufffdy");
    expect(storableText("ok 🙂 ж")).toBe("ok 🙂 ж");
  });

  it("names where unstorable text is, in values and in keys, at any depth", () => {
    expect(findUnstorableText({ hostId: "h", filter: { q: ["fine", "bad\u0000"] } })).toBe("filter.q[1]");
    expect(findUnstorableText({ ["k\ud83d"]: 1 })).toBe("k\ufffd");
    expect(findUnstorableText({ name: "🙂", list: [1, null, true, new Date(0)] })).toBeNull();
    let deep: unknown = "\ud800";
    for (let i = 0; i < 50_000; i++) deep = [deep];
    expect(findUnstorableText(deep, 200_000)).toMatch(/^\[0\]/);
  });
});

describe("audit params", () => {
  it("are storable even when the 2000-character cut splits an emoji, and an invalid date is null", () => {
    const params = redactSecrets({ text: "a".repeat(1999) + "🙂tail", nul: "x\u0000", when: new Date("garbage"), ["\u0000key"]: 1 }) as Record<string, unknown>;
    expect(findUnstorableText(params)).toBeNull();
    expect(params.when).toBeNull();
    expect(params.nul).toBe("x\ufffd");
    expect(Object.keys(params)).toContain("\ufffdkey");
  });
});
