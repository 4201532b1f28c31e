/**
 * Berth's one process: a single http server carrying the Next.js pages,
 * better-auth under /api/auth, tRPC under /api/trpc and socket.io (agents on
 * /agent, pages on /browser). `startServer` is also what integration tests call, with a real
 * Postgres and without Next when they do not need pages.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createHTTPHandler } from "@trpc/server/adapters/standalone";
import { toNodeHandler } from "better-auth/node";
import { Server as SocketServer } from "socket.io";
import { AGENT_NAMESPACE } from "../agent/protocol.ts";
import { createAuth, type Auth } from "./auth/auth.ts";
import { isServedAuthPath } from "./auth/served-paths.ts";
import { clientIp, createContextFactory, type AppDeps, type ProxyTrust } from "./context.ts";
import { createDb, type Db } from "./db/client.ts";
import { startEmbeddedDatabase } from "./db/embedded.ts";
import { migrateDatabase } from "./db/migrate.ts";
import { grantServingRole, servingRole } from "./db/roles.ts";
import { parseServerEnv, type ServerEnv } from "./env.ts";
import { InProcessEventBus, type EventBus } from "./events/bus.ts";
import { PostgresReplicaLink, ReplicatedEventBus } from "./gateway/replica-link.ts";
import { AgentHub } from "./gateway/agent-hub.ts";
import { defaultInternalUrl, StreamRelay } from "./gateway/stream-relay.ts";
import { BrowserHub } from "./gateway/browser-hub.ts";
import { frameLimitOptions, limitFrames } from "./gateway/frame-limits.ts";
import { matchHttpRoute } from "./gateway/http/routes.ts";
import { deriveServerKey, type ServerKey } from "./crypto/server-key.ts";
import { loadSecretBox } from "./crypto/secret-box.ts";
import { applySecurityHeaders, isCrossSiteRequest, securityHeaders } from "./gateway/http/security-headers.ts";
import { createLogger, setLogLevel } from "./logger.ts";
import { appRouter } from "./routers/_app.ts";
import { AuditCheckpointer, type TCheckpoint } from "./services/audit/checkpoint.ts";
import { ImageUpdateScheduler } from "./services/image-updates.ts";
import { RefusalRecorder } from "./services/audit/refusals.ts";
import { createHost, createJoinToken, sweepSilentHosts } from "./services/hosts.ts";
import { settleTerminalSessions } from "./services/terminals.ts";
import { LogStreamQuota } from "./services/logs.ts";
import { resealRegistryPasswords } from "./services/registries.ts";
import { StatsFanout } from "./services/stats.ts";
import { BuildContextStore } from "./services/build-contexts.ts";
import { prepareSetup } from "./services/setup.ts";

const log = createLogger("server");
/** Calls per tRPC batch request; app/providers.tsx batches at most this many (`maxItems`). */
export const MAX_TRPC_BATCH = 20;
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

export type StartOptions = {
  env?: Record<string, string | undefined>;
  /** Serve the Next.js pages (off in API-only integration tests). */
  withNext?: boolean;
  /** Next dev mode (hot reload) instead of the production build. */
  dev?: boolean;
  /** Enroll and run an agent for the local Docker socket (the quickstart). */
  withLocalAgent?: boolean;
};

export type RunningServer = {
  url: string;
  port: number;
  deps: AppDeps;
  hub: AgentHub;
  browsers: BrowserHub;
  /** Relays live streams between replicas (null with the embedded database). */
  relay: StreamRelay | null;
  auth: Auth;
  /** The key agents pin (its fingerprint is in every join command). */
  serverKey: ServerKey;
  db: Db;
  setupCode: string | null;
  /** Writes the counted refusals now instead of when their minute ends. */
  flushAuditAggregates(): Promise<void>;
  /** Signs and writes an audit checkpoint now (it also happens every BERTH_AUDIT_CHECKPOINT_MINUTES and at stop). */
  writeAuditCheckpoint(): Promise<TCheckpoint | null>;
  stop(): Promise<void>;
};

/** Resolves when `work` does or after `ms`, whichever is first; a step of shutdown never hangs the rest. */
async function bounded(what: string, ms: number, work: () => Promise<unknown> | unknown): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      log.warn(`shutdown: ${what} did not finish in ${ms} ms; going on`);
      resolve();
    }, ms);
  });
  const step = Promise.resolve()
    .then(work)
    .then(
      () => undefined,
      (error: unknown) => log.warn(`shutdown: ${what} failed`, { error: String(error) }),
    );
  await Promise.race([step, timeout]);
  clearTimeout(timer);
}

/** BERTH_SECRET, or one generated on first start and kept (0600) in the data folder. */
async function resolveSecret(env: ServerEnv): Promise<string> {
  if (env.BERTH_SECRET) return env.BERTH_SECRET;
  const file = path.join(env.dataDir, "secret");
  if (existsSync(file)) return (await readFile(file, "utf8")).trim();
  await mkdir(env.dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  await writeFile(file, secret + "\n", { mode: 0o600 });
  await chmod(file, 0o600);
  return secret;
}

/**
 * better-auth reads the client address (rate limits, audit) from
 * X-Forwarded-For only. Overwrite it with the socket peer so a client cannot
 * pick its own address, unless a trusted proxy in front set it.
 */
function withClientAddress(req: http.IncomingMessage, trust: ProxyTrust): http.IncomingMessage {
  const ip = clientIp(req, trust);
  if (ip) req.headers["x-forwarded-for"] = ip;
  else delete req.headers["x-forwarded-for"];
  return req;
}

export async function startServer(options: StartOptions = {}): Promise<RunningServer> {
  const env = parseServerEnv(options.env ?? process.env);
  setLogLevel(env.BERTH_LOG_LEVEL);

  const embedded = env.DATABASE_URL ? null : await startEmbeddedDatabase(env.dataDir);
  const databaseUrl = env.DATABASE_URL ?? embedded!.url;
  // Migrations run as the schema's owner; the app may serve as a role that owns nothing (docker-compose.yml).
  await migrateDatabase(env.MIGRATION_DATABASE_URL ?? databaseUrl);
  const serving = servingRole(databaseUrl, env.MIGRATION_DATABASE_URL);
  if (serving) await grantServingRole(env.MIGRATION_DATABASE_URL!, serving);
  const db = createDb({ url: databaseUrl, maxConnections: embedded ? 4 : 10 });

  const serverId = randomUUID();
  /** Set once the http server listens (BERTH_PORT may be 0). */
  let port = env.BERTH_PORT;
  const secret = await resolveSecret(env);
  // Same secret, same key: every replica proves the same identity to agents.
  const serverKey = deriveServerKey(secret);
  // With a shared Postgres, replicas see each other's events and agents; embedded mode is one process.
  const peers = embedded ? null : new PostgresReplicaLink({ url: databaseUrl, serverId });
  const bus: EventBus = peers ? new ReplicatedEventBus(peers) : new InProcessEventBus();
  // Live streams of agents held by another replica come through it (the port is known once listening).
  const relay: StreamRelay | null = peers
    ? new StreamRelay({
        db,
        serverId,
        secret,
        internalUrl: () => env.BERTH_INTERNAL_URL ?? defaultInternalUrl(env.BERTH_HOST, port),
        openLocal: (hostId, type, params, sink) => hub.openLocalStream(hostId, type, params as never, sink),
      })
    : null;
  const hub: AgentHub = new AgentHub({
    db,
    bus,
    serverId,
    serverKey,
    peers: peers ?? undefined,
    relay: relay ?? undefined,
    offlineAfterSeconds: env.BERTH_HOST_OFFLINE_AFTER_SECONDS,
  });
  if (peers) {
    peers.bind({
      runLocal: hub.requestLocal,
      onEvent: (event) => (bus as ReplicatedEventBus).deliverFromPeer(event),
      onControl: (message) => hub.onPeerControl(message),
    });
    await peers.start();
  }
  const auth = createAuth({ db, bus, secret, baseURL: env.publicUrl, insecureCookies: env.publicUrl.startsWith("http://") });
  const logStreams = new LogStreamQuota({ perUser: env.BERTH_LOG_STREAMS_PER_USER, perHost: env.BERTH_LOG_STREAMS_PER_HOST });
  const refusals = new RefusalRecorder({ db, bus });
  // Stats viewers share one agent stream per container: only the per-user count of views is limited here.
  const stats = new StatsFanout({
    db,
    link: hub,
    quota: new LogStreamQuota({ perUser: env.BERTH_LOG_STREAMS_PER_USER, perHost: Number.MAX_SAFE_INTEGER }, "stats views"),
  });
  const terminals = {
    idleMs: env.BERTH_TERMINAL_IDLE_MINUTES * 60_000,
    perUser: env.BERTH_TERMINALS_PER_USER,
    recordingMaxBytes: env.BERTH_TERMINAL_RECORDING_MAX_MB * 1024 * 1024,
  };
    // Registry passwords are sealed under this key (env or a 0600 file in the data dir, never the database).
  const { box: secrets, source: secretKeySource } = await loadSecretBox({ dataDir: env.dataDir, key: env.BERTH_SECRET_KEY, previousKey: env.BERTH_SECRET_KEY_PREVIOUS });
  if (secretKeySource === "generated") log.info(`generated the key for stored secrets in ${path.join(env.dataDir, "secret-key")}: back it up with the database`);
  if (env.BERTH_SECRET_KEY_PREVIOUS) {
    const { resealed, unreadable } = await resealRegistryPasswords({ db, secrets });
    log.info(`key rotation: re-sealed ${resealed} registry password(s) under the current key${unreadable ? `; ${unreadable} could not be opened with either key` : ""}; BERTH_SECRET_KEY_PREVIOUS can be removed once every replica runs the new key`);
  }
  const buildContexts = new BuildContextStore(env.BERTH_BUILD_CONTEXT_MAX_MB * 1024 * 1024);
  const deps: AppDeps = { db, bus, link: hub, auth, env, logStreams, stats, refusals, terminals, secrets, buildContexts, serverFingerprint: serverKey.fingerprint };
  const checkpoints = new AuditCheckpointer({
    db,
    key: serverKey,
    dataDir: env.dataDir,
    intervalMinutes: env.BERTH_AUDIT_CHECKPOINT_MINUTES,
    webhookUrl: env.BERTH_AUDIT_CHECKPOINT_WEBHOOK,
  });

  const setupCode = await prepareSetup({ db, auth, adminEmail: env.BERTH_ADMIN_EMAIL, adminPassword: env.BERTH_ADMIN_PASSWORD });

  const trpcHandler = createHTTPHandler({
    router: appRouter,
    basePath: "/api/trpc/",
    createContext: createContextFactory(deps),
    // A batch is refused with a 400 before any procedure runs (the app's client batches at most this many).
    maxBatchSize: MAX_TRPC_BATCH,
  });
  const authHandler = toNodeHandler(auth);

  let nextHandler: ((req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>) | null = null;
  let closeNext: (() => Promise<void>) | null = null;
  if (options.withNext !== false) {
    const { default: next } = await import("next");
    const app = next({ dev: options.dev ?? false, dir: ROOT, hostname: "localhost", port: env.BERTH_PORT });
    await app.prepare();
    const handle = app.getRequestHandler();
    nextHandler = (req, res) => handle(req, res);
    closeNext = () => app.close();
  }

  const headers = securityHeaders({ publicUrl: env.publicUrl, dev: options.dev ?? false });
  const server = http.createServer((req, res) => {
    const url = req.url ?? "/";
    applySecurityHeaders(res, headers);
    const httpRoute = matchHttpRoute(req);
    const route = url.startsWith("/api/trpc/")
      ? isCrossSiteRequest(req)
        ? Promise.resolve(void res.writeHead(403, { "content-type": "text/plain" }).end("Berth's API answers its own pages only (this request came from another site)"))
        : trpcHandler(req, res)
      : httpRoute === "method-not-allowed"
        ? Promise.resolve(void res.writeHead(405, { "content-type": "text/plain" }).end("Method not allowed"))
      : httpRoute
        ? httpRoute.handle(deps, req, res)
      : url.startsWith("/api/auth/")
        ? isServedAuthPath(url)
          ? authHandler(withClientAddress(req, env), res)
          : Promise.resolve(void res.writeHead(404, { "content-type": "text/plain" }).end("Not found"))
        : nextHandler
          ? nextHandler(req, res)
          : Promise.resolve(void res.writeHead(404).end("Not found"));
    Promise.resolve(route).catch((error: unknown) => {
      log.error("request failed", { url: url.split("?")[0], error: String(error) });
      if (!res.headersSent) res.writeHead(500).end("Internal error");
    });
  });

  // Short ping interval: a dead agent is noticed within ~10 s even when no FIN arrives.
  const io = new SocketServer(server, { pingInterval: 5_000, pingTimeout: 5_000, ...frameLimitOptions, serveClient: false });
  hub.attach(io);
  relay?.attach(io);
  limitFrames(io, {
    agentNamespace: AGENT_NAMESPACE,
    isTrustedConnection: (conn) => hub.carriesAuthenticatedAgent(conn) || (relay?.carriesAuthenticatedPeer(conn) ?? false),
    isPendingAgent: (socket) => !(socket.data as { identity?: unknown } | undefined)?.identity,
  });
  const browsers = new BrowserHub(deps);
  browsers.attach(io);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(env.BERTH_PORT, env.BERTH_HOST, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  await relay?.advertise();
  checkpoints.start();
  // Every replica ticks; a run is claimed in Postgres first, so one replica checks per period.
  const imageUpdates = new ImageUpdateScheduler({ db, secrets, bus, intervalMinutes: env.BERTH_IMAGE_UPDATE_CHECK_MINUTES });
  imageUpdates.start();
  const url = `http://localhost:${port}`;

  // Remember the sweep in flight so stop() can wait for it before closing the pool.
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweeper = setInterval(() => {
    sweeping = Promise.all([
      sweepSilentHosts({ db, bus, silentForSeconds: env.BERTH_HOST_OFFLINE_AFTER_SECONDS }),
      // Belt and braces for a revocation whose replica message was lost (listener reconnecting).
      hub.enforceRevocations(),
      hub.flushRefusalAudit(),
      relay?.advertise(),
    ]).catch((error: unknown) => log.warn("offline sweep failed", { error: String(error) }));
  }, 5_000);

  const localAgent = options.withLocalAgent
    ? await startLocalAgent({ db, bus, serverFingerprint: serverKey.fingerprint, env: { ...env, publicUrl: env.BERTH_PUBLIC_URL ? env.publicUrl : url } })
    : null;

  return {
    url,
    port,
    deps,
    hub,
    browsers,
    relay,
    auth,
    serverKey,
    db,
    setupCode,
    flushAuditAggregates: () => refusals.flush(),
    writeAuditCheckpoint: () => checkpoints.write(),
    /**
     * Every step is bounded, so a stuck query (the embedded database once
     * answered "Unknown transaction status" and never more) cannot keep the
     * process alive: sockets close, the agents' hosts go offline, counted
     * refusals and the final checkpoint are written, then the database closes.
     */
    async stop() {
      clearInterval(sweeper);
      await bounded("image update checks", 2_000, () => imageUpdates.stop());
      await bounded("offline sweep", 2_000, () => sweeping);
      await bounded("agent refusal audit", 1_000, () => hub.flushRefusalAudit({ all: true }).catch(() => undefined));
      localAgent?.stop();
      browsers.detach();
      await bounded("ending relayed streams", 1_000, () => relay?.stop());
      await bounded("closing sockets", 2_000, () => new Promise<void>((resolve) => io.close(() => resolve())));
      server.closeAllConnections();
      await bounded("closing the http server", 1_000, () => new Promise<void>((resolve) => server.close(() => resolve())));
      await bounded("marking hosts offline", 2_000, () => hub.settle());
      await bounded("closing terminal sessions", 5_000, () => settleTerminalSessions());
      await bounded("deleting build contexts", 2_000, () => buildContexts.close());
      await bounded("writing counted refusals", 2_000, () => refusals.stop());
      await bounded("writing the final audit checkpoint", 2_000, () => checkpoints.stop());
      await bounded("closing Next", 1_000, () => closeNext?.());
      await bounded("closing the replica link", 1_000, () => peers?.stop());
      await bounded("closing the database pool", 2_000, () => db.$disconnect());
      await bounded("stopping the embedded database", 5_000, () => embedded?.stop());
    },
  };
}

/**
 * The quickstart's agent for this machine's Docker. It enrolls like any other
 * agent (single-use token, its own key pair) the first time, and reuses its
 * key afterwards; the server only hands it the token, never a shortcut.
 */
async function startLocalAgent(opts: { db: Db; bus: EventBus; env: ServerEnv; serverFingerprint: string }) {
  const stateDir = path.join(opts.env.dataDir, "agent");
  const agentEnv: NodeJS.ProcessEnv = {
    ...process.env,
    BERTH_SERVER_URL: opts.env.publicUrl,
    BERTH_AGENT_STATE_DIR: stateDir,
    // The local agent learns this server's key the same way a remote one does: from its join instructions.
    BERTH_SERVER_FINGERPRINT: opts.serverFingerprint,
  };
  if (!existsSync(path.join(stateDir, "identity.json"))) {
    const existing = await opts.db.host.findUnique({ where: { name: "local" }, select: { id: true } });
    const joinArgs = { db: opts.db, ttlMinutes: 10, serverUrl: opts.env.publicUrl };
    const join = existing
      ? await createJoinToken({ ...joinArgs, hostId: existing.id })
      : await createHost({ ...joinArgs, bus: opts.bus, name: "local" });
    // The same variables as the join command an admin copies (one server-side source for them).
    for (const { name, value } of join.env) agentEnv[name] = value;
  }
  let child: ChildProcess | null = null;
  let stopping = false;
  const launch = () => {
    child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "agent", "main.ts")], {
      env: agentEnv,
      stdio: ["ignore", "inherit", "inherit"],
    });
    child.on("exit", (code) => {
      delete agentEnv.BERTH_JOIN_TOKEN; // the token is single-use; the key file is used from now on
      if (!stopping) {
        log.warn(`local agent exited (${code}); restarting in 3 s`);
        setTimeout(launch, 3_000);
      }
    });
  };
  launch();
  return {
    stop() {
      stopping = true;
      child?.kill("SIGTERM");
    },
  };
}

function printBanner(running: RunningServer) {
  const lines = [`Berth is running at ${running.url}`];
  if (running.setupCode) {
    lines.push(
      "",
      "First run: open the URL above and create the admin account",
      `with this one-time setup code:   ${running.setupCode}`,
    );
  } else {
    lines.push("Sign in with your Berth account.");
  }
  const width = Math.max(...lines.map((l) => l.length)) + 4;
  const bar = "=".repeat(width);
  console.log(`\n${bar}\n${lines.map((l) => `  ${l}`).join("\n")}\n${bar}\n`);
}

const isEntry = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isEntry) {
  process.env.NEXT_TELEMETRY_DISABLED ??= "1";
  const args = new Set(process.argv.slice(2));
  // --api-only: tRPC, auth and sockets without the pages (scripts, and tests without a build).
  startServer({ dev: args.has("--dev"), withLocalAgent: args.has("--with-local-agent"), withNext: !args.has("--api-only") })
    .then((running) => {
      printBanner(running);
      let stopping = false;
      const shutdown = () => {
        if (stopping) return process.exit(1); // a second signal: now
        stopping = true;
        log.info("shutting down");
        // stop() bounds each step; this bounds the whole, whatever happens.
        setTimeout(() => {
          log.error("shutdown took more than 10 s; exiting anyway");
          process.exit(1);
        }, 10_000).unref();
        running.stop().then(() => process.exit(0), () => process.exit(1));
      };
      process.once("SIGINT", shutdown);
      process.once("SIGTERM", shutdown);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    });
}
