/**
 * What a registry anyone can run may make the server do. The server follows a
 * registry to its token service and through redirects; a hostile one must not
 * steer it into the server's own networks, down from https to http, or carry
 * credentials to another origin, and its error text must reach users as one
 * bounded, storable line. The servers here are real HTTP servers on loopback.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { isInternalAddress } from "../../server/services/network-address.ts";
import { assertMayFollow, pingRegistry, registryGet } from "../../server/services/registry-client.ts";

const servers: Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe("internal addresses", () => {
  it.each([
    ["127.0.0.1", true],
    ["10.1.2.3", true],
    ["172.20.0.1", true],
    ["172.32.0.1", false],
    ["192.168.1.1", true],
    ["169.254.169.254", true],
    ["100.64.0.1", true],
    ["0.0.0.0", true],
    ["::1", true],
    ["::ffff:127.0.0.1", true],
    ["fd00::1", true],
    ["fe80::1", true],
    ["203.0.113.5", false],
    ["8.8.8.8", false],
    ["2001:db8::1", false],
  ])("%s internal: %s", (ip, internal) => {
    expect(isInternalAddress(ip)).toBe(internal);
  });
});

describe("where a registry may send the server", () => {
  it.each([
    // registry, next, refused because
    ["https://203.0.113.5", "https://203.0.113.5/token", null],
    ["https://203.0.113.5", "https://198.51.100.9/token", null],
    ["https://203.0.113.5", "https://10.0.0.7/token", /internal address/],
    ["https://203.0.113.5", "https://169.254.169.254/latest/meta-data", /internal address/],
    ["https://203.0.113.5", "https://127.0.0.1:8080/admin", /internal address/],
    ["https://203.0.113.5", "https://localhost/x", /internal address/],
    ["https://203.0.113.5", "http://198.51.100.9/token", /plain http/],
    ["http://203.0.113.5", "http://198.51.100.9/token", null],
    // A registry inside the network may use a token service inside it (Harbor, GitLab on a LAN).
    ["https://10.0.0.5", "https://10.0.0.6/service/token", null],
    ["http://127.0.0.1:5000", "http://127.0.0.1:5001/auth", null],
    ["https://203.0.113.5", "ftp://198.51.100.9/token", /not http/],
  ])("%s → %s", async (registry, next, refused) => {
    const check = assertMayFollow(new URL(registry), new URL(next), "its token service");
    if (refused) await expect(check).rejects.toThrow(refused);
    else await expect(check).resolves.toBeUndefined();
  });
});

describe("a hostile registry's answers", () => {
  it("a redirect to another origin does not carry the credentials; one within the registry does", async () => {
    const seen: Array<string | undefined> = [];
    const elsewhere = await serve((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
    const registry = await serve((req, res) => {
      if (!req.headers.authorization) return void res.writeHead(401, { "www-authenticate": 'Basic realm="r"' }).end();
      if (req.url === "/v2/moved") return void res.writeHead(302, { location: "/v2/here" }).end();
      if (req.url === "/v2/here") return void res.writeHead(307, { location: `${elsewhere}/v2/there` }).end();
      res.writeHead(404).end();
    });
    const answer = await registryGet({ url: registry, credentials: { username: "u", password: "p" } }, "/v2/moved");
    expect(answer.status).toBe(200);
    expect(seen).toEqual([undefined]);
  });

  it("a redirect loop ends with an error in words", async () => {
    const registry = await serve((req, res) => res.writeHead(302, { location: req.url === "/v2/a" ? "/v2/b" : "/v2/a" }).end());
    await expect(registryGet({ url: registry, credentials: null }, "/v2/a")).rejects.toThrow(/redirected more than 5 times/);
  });

  it("its error text arrives as one short storable line, however long and whatever it holds", async () => {
    const registry = await serve((_req, res) => {
      const message = "internal details\u0000\n\u001b[31m" + "x".repeat(3_900_000);
      res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNKNOWN", message }] }));
    });
    const error = await pingRegistry({ url: registry, credentials: null }).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    const message = (error as Error).message;
    expect(message).toContain("UNKNOWN: internal details");
    expect(message.length).toBeLessThan(400);
    expect(message).not.toMatch(/[\u0000-\u001f]/);
  });
});
