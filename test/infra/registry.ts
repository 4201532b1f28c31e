/**
 * Real image registries for tests: Debian's `docker-registry` (the CNCF
 * distribution registry, `apt-get install docker-registry`), one process per
 * call on a free 127.0.0.1 port, storing into a temporary folder that is
 * deleted on stop. dockerd trusts 127.0.0.0/8 registries over plain HTTP by
 * default, so the test daemon pushes to and pulls from them as they are.
 *
 *   auth "none"     — open to anyone
 *   auth "htpasswd" — HTTP basic auth against an htpasswd file (bcrypt)
 *   auth "token"    — Docker's token auth: the registry answers 401 with a
 *                     `WWW-Authenticate: Bearer realm=…,service=…,scope=…`
 *                     challenge and trusts JWTs signed by a small token server
 *                     started here (ES256, the certificate in the JWT's x5c is
 *                     the registry's root bundle), which checks basic
 *                     credentials and grants every scope asked for.
 *
 * The docker CLI is run with a DOCKER_CONFIG of the registry's own, so a
 * `docker login` never touches the machine's ~/.docker/config.json.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { createPrivateKey, randomUUID, sign } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);

export const REGISTRY_BINARY = "/usr/bin/docker-registry";
export const REGISTRY_USER = "berth-ci";
export const REGISTRY_PASSWORD = "s3cret-registry-pw";
/**
 * bcrypt (cost 5) of REGISTRY_PASSWORD, made once with
 * `python3 -c "import crypt; print(crypt.crypt('s3cret-registry-pw', crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=32)))"`
 * (the registry only reads bcrypt; apache2-utils' htpasswd is not needed).
 * The tests prove it: the right password is let in, a wrong one is not.
 */
const REGISTRY_PASSWORD_BCRYPT = "$2b$05$v3z7cu1k22Jl0Jt5GSSd.uRNMtjaJ0bvVMqDj.lEhQtmtyc4Vt2ky";

export type RegistryAuth = "none" | "htpasswd" | "token";

export type TestRegistry = {
  auth: RegistryAuth;
  /** `127.0.0.1:<port>`: the registry part of image references. */
  host: string;
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** Credentials it accepts (null for an open registry). */
  credentials: { username: string; password: string } | null;
  /** Runs the docker CLI against the test daemon with this registry's own DOCKER_CONFIG (logged in when it needs it). */
  docker(args: string[], opts?: { host?: string }): Promise<string>;
  /**
   * Makes the registry (and its token server) answer at the same 127.0.0.1
   * address inside an extra Docker host's network namespace
   * (test/infra/docker.ts startExtraDockerHost), so that daemon pulls and
   * pushes the same references, trusted as insecure like any 127.0.0.0/8
   * registry. Each port is bridged through a unix socket (files cross
   * network namespaces): a forwarder inside the namespace listens on the
   * port, one outside connects to the real one. Stopped with the registry.
   */
  exposeTo(extraHost: { name: string }): Promise<void>;
  /** `docker tag` + `docker push` of a local image as `<host>/<repository>`; resolves with the pushed digest. */
  push(localImage: string, repository: string, opts?: { dockerHost?: string }): Promise<string>;
  stop(): Promise<void>;
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = http.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function base64url(data: Buffer | string): string {
  return Buffer.from(data).toString("base64url");
}

/** A token server for the "token" registry; checks basic auth, signs ES256 JWTs carrying its certificate. */
async function startTokenServer(dir: string, service: string, issuer: string): Promise<{ realm: string; certFile: string; close(): Promise<void> }> {
  const keyFile = path.join(dir, "token.key");
  const certFile = path.join(dir, "token.crt");
  await exec("openssl", [
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-subj", "/CN=berth-test-token-issuer", "-days", "2", "-keyout", keyFile, "-out", certFile,
  ]);
  const key = createPrivateKey(await readFile(keyFile));
  const certDer = (await readFile(certFile, "utf8")).replace(/-----[^-]+-----|\s/g, "");
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://token");
    const header = req.headers.authorization ?? "";
    const [user, password] = header.startsWith("Basic ") ? Buffer.from(header.slice(6), "base64").toString("utf8").split(":") : [];
    if (url.pathname !== "/token" || user !== REGISTRY_USER || password !== REGISTRY_PASSWORD) {
      res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "wrong user name or password" }] }));
      return;
    }
    const access = url.searchParams.getAll("scope").flatMap((scope) => scope.split(" ")).filter(Boolean).map((scope) => {
      const parts = scope.split(":");
      return { type: parts[0], name: parts.slice(1, -1).join(":"), actions: (parts.at(-1) ?? "").split(",") };
    });
    const now = Math.floor(Date.now() / 1000);
    const head = base64url(JSON.stringify({ typ: "JWT", alg: "ES256", x5c: [certDer] }));
    const claims = base64url(JSON.stringify({ iss: issuer, sub: user, aud: service, exp: now + 300, nbf: now - 30, iat: now, jti: randomUUID(), access }));
    const signature = sign("sha256", Buffer.from(`${head}.${claims}`), { key, dsaEncoding: "ieee-p1363" });
    const token = `${head}.${claims}.${base64url(signature)}`;
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ token, access_token: token, expires_in: 300, issued_at: new Date().toISOString() }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    certFile,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The forwarder run inside the namespace: 127.0.0.1:PORT → the unix socket. */
const INSIDE_FORWARDER = `
const net = require("node:net");
const [port, socketPath] = process.argv.slice(1);
const server = net.createServer((client) => {
  const upstream = net.connect(socketPath);
  client.pipe(upstream).pipe(client);
  const end = () => { client.destroy(); upstream.destroy(); };
  client.on("error", end); upstream.on("error", end);
});
server.listen(Number(port), "127.0.0.1", () => process.stdout.write("ready\\n"));
`;

/** Bridges 127.0.0.1:port of this namespace into `netnsPath`'s 127.0.0.1:port; resolves with its closer. */
async function bridgePort(port: number, netnsPath: string, socketPath: string): Promise<() => Promise<void>> {
  const outside = net.createServer((client) => {
    const upstream = net.connect(port, "127.0.0.1");
    client.pipe(upstream).pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end);
    upstream.on("error", end);
  });
  await new Promise<void>((resolve, reject) => {
    outside.once("error", reject);
    outside.listen(socketPath, resolve);
  });
  const inside = spawn("nsenter", [`--net=${netnsPath}`, process.execPath, "-e", INSIDE_FORWARDER, String(port), socketPath], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the forwarder in ${netnsPath} did not start: ${output}`)), 10_000);
    inside.stdout.on("data", (c: Buffer) => {
      output += c.toString();
      if (output.includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    inside.stderr.on("data", (c: Buffer) => (output += c.toString()));
    inside.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the forwarder in ${netnsPath} exited with ${code}: ${output}`));
    });
  });
  return async () => {
    inside.kill("SIGKILL");
    await new Promise<void>((resolve) => outside.close(() => resolve()));
  };
}

async function waitForRegistry(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`docker-registry exited with ${child.exitCode}: ${log()}`);
    try {
      const response = await fetch(`${url}/v2/`);
      // 200 when open, 401 when it wants credentials: either way it is serving.
      if (response.status === 200 || response.status === 401) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`docker-registry did not answer on ${url} within 20 s: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts Debian's docker-registry on a free port with the given authentication. */
export async function startTestRegistry(opts: { auth: RegistryAuth }): Promise<TestRegistry> {
  if (!existsSync(REGISTRY_BINARY)) {
    throw new Error(`${REGISTRY_BINARY} not found: apt-get install -y docker-registry (or run .ci/run)`);
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), `berth-registry-${opts.auth}-`));
  const dockerConfig = path.join(dir, "docker-config");
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const url = `http://${host}`;
  const service = "berth-test-registry";
  const token = opts.auth === "token" ? await startTokenServer(dir, service, "berth-test-issuer") : null;
  let authYaml = "";
  if (opts.auth === "htpasswd") {
    await writeFile(path.join(dir, "htpasswd"), `${REGISTRY_USER}:${REGISTRY_PASSWORD_BCRYPT}\n`);
    authYaml = `auth:\n  htpasswd:\n    realm: berth-test\n    path: ${path.join(dir, "htpasswd")}\n`;
  } else if (token) {
    authYaml = `auth:\n  token:\n    realm: ${token.realm}\n    service: ${service}\n    issuer: berth-test-issuer\n    rootcertbundle: ${token.certFile}\n`;
  }
  const config = [
    "version: 0.1",
    "log:",
    "  level: warn",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${path.join(dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: ${host}`,
    authYaml,
  ].join("\n");
  const configFile = path.join(dir, "config.yml");
  await writeFile(configFile, config);
  const child = spawn(REGISTRY_BINARY, ["serve", configFile], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-8000);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  try {
    await waitForRegistry(url, child, () => output);
  } catch (error) {
    child.kill("SIGKILL");
    await token?.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  const bridges: Array<() => Promise<void>> = [];
  const ports = [port, ...(token ? [Number(new URL(token.realm).port)] : [])];

  const credentials = opts.auth === "none" ? null : { username: REGISTRY_USER, password: REGISTRY_PASSWORD };
  const env = { ...process.env, DOCKER_CONFIG: dockerConfig, DOCKER_BUILDKIT: "0" };
  const loggedIn = new Set<string>();
  async function docker(args: string[], o: { host?: string } = {}): Promise<string> {
    const daemon = o.host ?? "";
    if (credentials && !loggedIn.has(daemon)) {
      // The password goes in on stdin, never as an argument.
      await new Promise<void>((resolve, reject) => {
        const login = spawn("docker", [...(o.host ? ["-H", o.host] : []), "login", "--username", credentials.username, "--password-stdin", host], { env });
        let err = "";
        login.stderr.on("data", (c: Buffer) => (err += c.toString()));
        login.on("error", reject);
        login.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`docker login ${host} failed: ${err}`))));
        login.stdin.end(credentials.password);
      });
      loggedIn.add(daemon);
    }
    try {
      const { stdout } = await exec("docker", [...(o.host ? ["-H", o.host] : []), ...args], { env, maxBuffer: 16 * 1024 * 1024 });
      return stdout.trim();
    } catch (error) {
      const e = error as { stderr?: string; message: string };
      throw new Error(`docker ${args.join(" ")} failed: ${e.stderr?.trim() || e.message}`);
    }
  }

  return {
    auth: opts.auth,
    host,
    url,
    credentials,
    docker,
    async push(localImage, repository, o = {}) {
      const target = `${host}/${repository}`;
      await docker(["tag", localImage, target], { host: o.dockerHost });
      const out = await docker(["push", target], { host: o.dockerHost });
      const digest = /digest: (sha256:[a-f0-9]{64})/.exec(out)?.[1];
      if (!digest) throw new Error(`docker push ${target} printed no digest: ${out}`);
      await docker(["rmi", target], { host: o.dockerHost }).catch(() => undefined);
      return digest;
    },
    async exposeTo(extraHost) {
      for (const p of ports) bridges.push(await bridgePort(p, `/run/netns/berth-${extraHost.name}`, path.join(dir, `bridge-${extraHost.name}-${p}.sock`)));
    },
    async stop() {
      for (const close of bridges.splice(0)) await close();
      child.kill("SIGTERM");
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        const timer = setTimeout(() => {
          child.kill("SIGKILL");
          resolve();
        }, 5000);
        child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      });
      await token?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
