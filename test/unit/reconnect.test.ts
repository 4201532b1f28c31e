import { afterEach, describe, expect, it, vi } from "vitest";
import { backoffDelay, DEFAULT_RECONNECT_POLICY, Reconnector } from "../../agent/reconnect.ts";

const policy = DEFAULT_RECONNECT_POLICY;

describe("agent reconnect backoff", () => {
  afterEach(() => vi.useRealTimers());

  it("doubles from 1 s to a 30 s cap while the server is unreachable, jittered into [d/2, d]", () => {
    // Expected delays written out by hand: 1, 2, 4, 8, 16, 30, 30 s.
    const expected = [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000];
    expected.forEach((d, failures) => {
      expect(backoffDelay(policy, failures, false, () => 0)).toBe(d / 2);
      expect(backoffDelay(policy, failures, false, () => 1)).toBe(d);
    });
  });

  it("backs off to minutes once refused: 5 s doubling to a 10 minute cap", () => {
    const expected = [5_000, 10_000, 20_000, 40_000, 80_000, 160_000, 320_000, 600_000, 600_000];
    expected.forEach((d, failures) => expect(backoffDelay(policy, failures, true, () => 1)).toBe(d));
    expect(backoffDelay(policy, 1_000, true, () => 0.5)).toBe(450_000);
  });

  it("keeps one timer: a refusal and the disconnect it causes plan one attempt", () => {
    vi.useFakeTimers();
    const connect = vi.fn();
    const r = new Reconnector({ connect, log: () => undefined, random: () => 1 });
    r.noteRefused();
    expect(r.schedule("refused")).toBe(5_000);
    expect(r.schedule("connection lost")).toBeNull();
    vi.advanceTimersByTime(5_000);
    expect(connect).toHaveBeenCalledTimes(1);
    expect(r.schedule("refused again")).toBe(10_000);
    vi.advanceTimersByTime(10_000);
    expect(connect).toHaveBeenCalledTimes(2);
    r.noteConnected();
    expect(r.schedule("connection lost")).toBe(1_000);
    r.stop();
    vi.advanceTimersByTime(60_000);
    expect(connect).toHaveBeenCalledTimes(2);
    expect(r.schedule("after stop")).toBeNull();
  });

  it("re-plans on the refused schedule when the server's disconnect was seen before its refusal", () => {
    vi.useFakeTimers();
    const connect = vi.fn();
    const r = new Reconnector({ connect, log: () => undefined, random: () => 1 });
    expect(r.schedule("connection lost")).toBe(1_000); // the disconnect, read first
    r.noteRefused(); // then the refusal
    vi.advanceTimersByTime(1_000);
    expect(connect).not.toHaveBeenCalled();
    vi.advanceTimersByTime(4_000);
    expect(connect).toHaveBeenCalledTimes(1);
    r.stop();
  });
});
