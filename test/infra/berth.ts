/**
 * Starts real Berth pieces for integration and e2e tests: a server on a real
 * Postgres (a fresh database per test file, cloned from a migrated template so
 * only the first file pays for `prisma migrate deploy`), agents as real child
 * processes, and tRPC callers signed in as real users.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { io, type Socket as ClientSocket } from "socket.io-client";
import { createContextInner, principalFromSession } from "../../server/context.ts";
import { BROWSER_NAMESPACE, type TAck } from "../../server/gateway/browser-protocol.ts";
import { migrateDatabase } from "../../server/db/migrate.ts";
import { startServer, type RunningServer } from "../../server/main.ts";
import { appRouter } from "../../server/routers/_app.ts";
import { resolveApiToken } from "../../server/services/api-tokens.ts";
import { createUserWithPassword } from "../../server/services/setup.ts";
import { createCallerFactory } from "../../server/trpc.ts";
import { adminUrl, createTestDatabase, withAdmin, type TestDatabase } from "./postgres.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Template name changes whenever a migration changes, so a stale template is never used. */
async function templateName(): Promise<string> {
  const dir = path.join(ROOT, "prisma", "migrations");
  const hash = createHash("sha256");
  for (const name of (await readdir(dir)).sort()) {
    hash.update(name);
    try {
      hash.update(await readFile(path.join(dir, name, "migration.sql")));
    } catch {
      // migration_lock.toml and other plain files
    }
  }
  return `berth_tpl_${hash.digest("hex").slice(0, 12)}`;
}

/** A fresh, fully migrated database. Parallel test files serialise on an advisory lock. */
export async function createMigratedDatabase(prefix: string): Promise<TestDatabase> {
  const template = await templateName();
  await withAdmin(async (client) => {
    await client.query("SELECT pg_advisory_lock(724001)");
    try {
      const exists = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [template]);
      if (exists.rowCount === 0) {
        await client.query(`CREATE DATABASE "${template}"`);
        const url = new URL(adminUrl());
        url.pathname = `/${template}`;
        try {
          await migrateDatabase(url.href);
        } catch (error) {
          await client.query(`DROP DATABASE IF EXISTS "${template}"`);
          throw error;
        }
      }
    } finally {
      await client.query("SELECT pg_advisory_unlock(724001)");
    }
  });
  return createTestDatabase(prefix, { template });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export type TestServer = {
  server: RunningServer;
  database: TestDatabase;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
};

/**
 * The server key fingerprint of each test server, by URL: what a join command
 * would carry, so agents started with a join token pin the right server.
 */
const fingerprints = new Map<string, string>();

export async function startTestServer(
  opts: {
    name?: string;
    withNext?: boolean;
    env?: Record<string, string>;
    /** Share another server's database (a second replica). */
    database?: TestDatabase;
    /** Listen on this port (e.g. another server taking over a stopped one's URL). */
    port?: number;
  } = {},
): Promise<TestServer> {
  const database = opts.database ?? (await createMigratedDatabase(opts.name ?? "server"));
  const ownsDatabase = !opts.database;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-test-server-"));
  const port = opts.port ?? (await freePort());
  const server = await startServer({
    withNext: opts.withNext ?? false,
    env: {
      ...process.env,
      NODE_ENV: "production",
      DATABASE_URL: database.url,
      BERTH_PORT: String(port),
      BERTH_HOST: "127.0.0.1",
      BERTH_PUBLIC_URL: `http://127.0.0.1:${port}`,
      BERTH_DATA_DIR: dataDir,
      BERTH_SECRET: randomBytes(32).toString("hex"),
      BERTH_LOG_LEVEL: process.env.BERTH_TEST_LOG_LEVEL ?? "warn",
      // Scheduled update checks would ask registries in the background of every test; image-updates tests tick it themselves.
      BERTH_IMAGE_UPDATE_CHECK_MINUTES: "0",
      ...opts.env,
    },
  });
  fingerprints.set(`http://127.0.0.1:${port}`, server.serverKey.fingerprint);
  return {
    server,
    database,
    url: `http://127.0.0.1:${port}`,
    dataDir,
    async stop() {
      await server.stop();
      if (ownsDatabase) await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export type TestAgent = {
  process: ChildProcess;
  stateDir: string;
  /** Everything the agent printed so far. */
  output(): string;
  /** Resolves when the agent's output matches `pattern`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
};

/** Runs `agent/main.ts` as its own process, as it runs in production. */
export async function startTestAgent(opts: {
  serverUrl: string;
  joinToken?: string;
  /** Defaults to the fingerprint of the test server at `serverUrl` when joining; null: leave it unset. */
  serverFingerprint?: string | null;
  stateDir?: string;
  dockerHost?: string;
  /** Extra environment (e.g. BERTH_ALLOW_INSECURE_HTTP). */
  env?: Record<string, string>;
}): Promise<TestAgent> {
  const stateDir = opts.stateDir ?? (await mkdtemp(path.join(os.tmpdir(), "berth-test-agent-")));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_SERVER_URL: opts.serverUrl,
    BERTH_AGENT_STATE_DIR: stateDir,
    BERTH_HEARTBEAT_SECONDS: "2",
  };
  delete env.BERTH_JOIN_TOKEN;
  delete env.BERTH_SERVER_FINGERPRINT;
  if (opts.joinToken) env.BERTH_JOIN_TOKEN = opts.joinToken;
  const fingerprint = opts.serverFingerprint === undefined ? (opts.joinToken ? fingerprints.get(opts.serverUrl) : undefined) : opts.serverFingerprint;
  if (fingerprint) env.BERTH_SERVER_FINGERPRINT = fingerprint;
  Object.assign(env, opts.env);
  if (opts.dockerHost) env.DOCKER_HOST = opts.dockerHost;
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "agent", "main.ts")], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    if (process.env.BERTH_TEST_AGENT_LOGS) process.stderr.write(chunk);
    for (const listener of listeners) listener();
  };
  child.stdout!.on("data", onData);
  child.stderr!.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return {
    process: child,
    stateDir,
    output: () => output,
    exited,
    waitForOutput(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(output)) {
            listeners.delete(check);
            clearTimeout(timer);
            resolve();
          }
        };
        const timer = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`agent output did not match ${pattern} within ${timeoutMs} ms:\n${output}`));
        }, timeoutMs);
        listeners.add(check);
        check();
      });
    },
    async kill(signal = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Polls `probe` until it returns a truthy value; the last value is returned. */
export async function waitFor<T>(probe: () => Promise<T> | T, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<NonNullable<T>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: T | undefined;
  for (;;) {
    last = await probe();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${opts.what ?? "condition"} (last value: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 100));
  }
}

export type TestUser = { id: string; email: string; password: string; cookie: string };

/** Creates a user and signs in through better-auth's real sign-in endpoint. */
export async function createSignedInUser(
  server: RunningServer,
  opts: { email?: string; role?: "admin" | "user"; name?: string } = {},
): Promise<TestUser> {
  const email = opts.email ?? `user-${randomBytes(4).toString("hex")}@example.test`;
  const password = `pw-${randomBytes(12).toString("hex")}`;
  const user = await createUserWithPassword(server.auth, { name: opts.name ?? "Test User", email, password, role: opts.role ?? "user" });
  const response = await fetch(`${server.url.replace("localhost", "127.0.0.1")}/api/auth/sign-in/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: server.deps.env.publicUrl },
    body: JSON.stringify({ email, password }),
  });
  if (!response.ok) throw new Error(`sign-in failed: ${response.status} ${await response.text()}`);
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  return { id: user.id, email, password, cookie };
}

const createCaller = createCallerFactory(appRouter);

/** A tRPC caller whose context is resolved from the user's real session cookie. */
export async function callerFor(server: RunningServer, user: TestUser | null, options: { signal?: AbortSignal } = {}) {
  const session = user ? await server.auth.api.getSession({ headers: new Headers({ cookie: user.cookie }) }) : null;
  if (user && !session) throw new Error("the test user's session cookie was not accepted");
  return createCaller(createContextInner({ deps: server.deps, principal: session ? principalFromSession(session) : null, request: { ip: "127.0.0.1", userAgent: "vitest" } }), options);
}

/** A tRPC caller authenticated by an API token, resolved exactly as the HTTP handler resolves a Bearer header. */
export async function callerForToken(server: RunningServer, token: string, options: { signal?: AbortSignal } = {}) {
  const principal = await resolveApiToken(server.db, token);
  if (!principal) throw new Error("the test token was not accepted");
  return createCaller(createContextInner({ deps: server.deps, principal, request: { ip: "127.0.0.1", userAgent: "vitest" } }), options);
}

/** Resolves once the server has applied a snapshot from the host's agent (newer than `since`). */
export async function waitForSnapshot(server: RunningServer, hostId: string, since = new Date(0)) {
  await waitFor(
    async () => {
      const host = await server.db.host.findUnique({ where: { id: hostId }, select: { status: true, dockerVersion: true } });
      if (host?.status !== "ONLINE" || !host.dockerVersion) return false;
      const synced = await server.db.network.findFirst({ where: { hostId, syncedAt: { gte: since } }, select: { name: true } });
      return Boolean(synced);
    },
    // Generous: on a loaded machine an agent process alone took 5-8 s to boot (load 14-19), and at load 20-25
    // (CI plus other runs on the same 2 cores) loading its modules alone took 17-20 s: 30 s timed out in
    // log-search's setup. Only a wait's limit: a snapshot that comes sooner ends it sooner.
    { timeoutMs: 90_000, what: `snapshot of host ${hostId}` },
  );
}

/**
 * A socket on the /browser namespace, authenticated the way a page (cookie,
 * sent with its Origin, as browsers do) or a script (token header) is.
 * `origin: null` leaves the Origin out.
 */
export async function connectBrowserSocket(url: string, auth: { cookie?: string; token?: string; origin?: string | null }): Promise<BrowserTestSocket> {
  const headers: Record<string, string> = {};
  if (auth.cookie) headers.cookie = auth.cookie;
  if (auth.token) headers.authorization = `Bearer ${auth.token}`;
  const origin = auth.origin === undefined ? (auth.cookie ? url : undefined) : auth.origin;
  if (origin) headers.origin = origin;
  const socket = io(url + BROWSER_NAMESPACE, { transports: ["websocket"], reconnection: false, extraHeaders: headers });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("connect_error", (error) => reject(error));
  });
  return socket;
}

export type BrowserTestSocket = ClientSocket;

/** Emits a browser event and resolves its ack. */
export function emitWithAck<T = Record<string, unknown>>(socket: ClientSocket, event: string, payload: unknown): Promise<TAck<T>> {
  return socket.timeout(20_000).emitWithAck(event, payload) as Promise<TAck<T>>;
}
