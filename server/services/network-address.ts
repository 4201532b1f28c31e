/**
 * Whether a host name points inside the server's own networks (loopback,
 * private ranges, link-local such as a cloud's metadata service). The server
 * follows addresses that registries hand it (a token realm, a redirect), and a
 * registry anyone can run must not steer it at the server's neighbours.
 */
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

const INTERNAL = new BlockList();
for (const [address, prefix] of [
  ["0.0.0.0", 8],
  ["10.0.0.0", 8],
  ["100.64.0.0", 10],
  ["127.0.0.0", 8],
  ["169.254.0.0", 16],
  ["172.16.0.0", 12],
  ["192.168.0.0", 16],
] as const) {
  INTERNAL.addSubnet(address, prefix, "ipv4");
}
for (const [address, prefix] of [
  ["::", 128],
  ["::1", 128],
  ["fc00::", 7],
  ["fe80::", 10],
] as const) {
  INTERNAL.addSubnet(address, prefix, "ipv6");
}

export function isInternalAddress(ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return INTERNAL.check(mapped[1]!, "ipv4");
  const family = isIP(ip);
  if (family === 4) return INTERNAL.check(ip, "ipv4");
  if (family === 6) return INTERNAL.check(ip, "ipv6");
  return false;
}

/** True when the name is, or resolves to, an internal address. A name that does not resolve is not internal (nothing can be reached there). */
export async function isInternalHost(hostname: string): Promise<boolean> {
  const bare = hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(bare)) return isInternalAddress(bare);
  if (bare === "localhost" || bare.endsWith(".localhost")) return true;
  try {
    const addresses = await lookup(bare, { all: true });
    return addresses.some((a) => isInternalAddress(a.address));
  } catch {
    return false;
  }
}
