/** Which public URLs an agent on another machine could not reach (the join dialog warns about them). */
import { describe, expect, it } from "vitest";
import { isLoopbackUrl } from "../../server/services/hosts.ts";

const CASES: Array<[string, boolean]> = [
  ["http://localhost:3000", true],
  ["http://LOCALHOST", true],
  ["http://berth.localhost:3000", true],
  ["http://127.0.0.1:3000", true],
  ["http://127.1.2.3", true],
  ["http://0.0.0.0:3000", true],
  ["http://[::1]:3000", true],
  ["http://[::ffff:127.0.0.1]:3000", true],
  ["https://berth.example.com", false],
  ["http://192.168.1.20:3000", false],
  ["http://10.0.0.5", false],
  ["http://localhost.example.com", false],
  ["http://[2001:db8::1]:3000", false],
  ["not a url", false],
];

describe("isLoopbackUrl", () => {
  it.each(CASES)("%s → %s", (url, expected) => {
    expect(isLoopbackUrl(url)).toBe(expected);
  });
});
