/**
 * The client's address behind proxies: the rightmost X-Forwarded-For entry
 * that is not a trusted hop, and only when the connection comes from one.
 * Expected addresses are written out by hand for each case.
 */
import type { IncomingMessage } from "node:http";
import { describe, expect, it } from "vitest";
import { clientIp } from "../../server/context.ts";

const req = (peer: string, xff?: string | string[]) =>
  ({ socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { "x-forwarded-for": xff } }) as unknown as IncomingMessage;
const trust = (list: string[]) => ({ BERTH_TRUST_PROXY: true, BERTH_TRUSTED_PROXIES: list });

describe("clientIp", () => {
  it.each<[string, string | string[] | undefined, string[], string]>([
    ["127.0.0.1", "6.6.6.6, 203.0.113.7", ["127.0.0.1"], "203.0.113.7"],
    ["10.0.0.2", "6.6.6.6, 203.0.113.7, 10.9.9.9", ["10.0.0.0/8"], "203.0.113.7"],
    ["::ffff:127.0.0.1", "198.51.100.1", ["127.0.0.1"], "198.51.100.1"],
    ["127.0.0.1", ["6.6.6.6", "198.51.100.2"], ["127.0.0.1"], "198.51.100.2"],
    // The connection is not from a trusted hop: its header is the client's own writing.
    ["203.0.113.50", "6.6.6.6", ["127.0.0.1"], "203.0.113.50"],
    // Every hop trusted: the leftmost is as far as the chain of trust reaches.
    ["127.0.0.1", "10.1.1.1, 10.2.2.2", ["127.0.0.1", "10.0.0.0/8"], "10.1.1.1"],
    // Garbage in the header stops the walk at the last trusted hop.
    ["127.0.0.1", "6.6.6.6, not-an-ip, 10.2.2.2", ["127.0.0.1", "10.0.0.0/8"], "10.2.2.2"],
    ["127.0.0.1", undefined, ["127.0.0.1"], "127.0.0.1"],
    ["::1", "2001:db8::5", ["::1"], "2001:db8::5"],
  ])("peer %s, X-Forwarded-For %j, trusted %j → %s", (peer, xff, list, expected) => {
    expect(clientIp(req(peer, xff), trust(list))).toBe(expected);
  });

  it("ignores the header entirely without BERTH_TRUST_PROXY", () => {
    expect(clientIp(req("127.0.0.1", "6.6.6.6"), { BERTH_TRUST_PROXY: false, BERTH_TRUSTED_PROXIES: ["127.0.0.1"] })).toBe("127.0.0.1");
  });
});
