/**
 * Server configuration, parsed once from process.env with zod so a bad value
 * stops the server at start with a readable message instead of failing later.
 */
import { isIP } from "node:net";
import path from "node:path";
import { z } from "zod";

const ZServerEnv = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  /** Postgres URL. Unset = embedded Postgres (PGlite) with data under BERTH_DATA_DIR. */
  DATABASE_URL: z.string().url().optional(),
  /**
   * Postgres URL used only to run migrations, as the role that owns the schema. DATABASE_URL can
   * then be a role that owns neither the audit table nor its trigger (see docker-compose.yml).
   */
  MIGRATION_DATABASE_URL: z.string().url().optional(),
  BERTH_DATA_DIR: z.string().default("./data"),
  BERTH_HOST: z.string().default("0.0.0.0"),
  BERTH_PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  /** The URL browsers and agents use to reach this server (cookies, agent command). */
  BERTH_PUBLIC_URL: z.string().url().optional(),
  /**
   * The URL the other server replicas reach this one at (they relay live log streams and
   * terminals of the agents it holds). Default: http://<BERTH_HOST, or this machine's hostname>:<BERTH_PORT>.
   */
  BERTH_INTERNAL_URL: z.string().url().optional(),
  /** Secret for session signing. Unset = generated once and kept in BERTH_DATA_DIR. */
  BERTH_SECRET: z.string().min(32).optional(),
  /**
   * Key sealing stored secrets (registry passwords) with AES-256-GCM: base64 of 32 random bytes.
   * Unset = generated once and kept (0600) in BERTH_DATA_DIR/secret-key. Never stored in the database.
   */
  BERTH_SECRET_KEY: z.string().optional().transform((v) => v || undefined),
  /** During a key rotation: the previous BERTH_SECRET_KEY, accepted for opening; values are re-sealed at start. */
  BERTH_SECRET_KEY_PREVIOUS: z.string().optional().transform((v) => v || undefined),
  /** Skip the setup code: the first admin is created with this email + password. */
  BERTH_ADMIN_EMAIL: z.string().email().optional(),
  BERTH_ADMIN_PASSWORD: z.string().min(12).optional(),
  BERTH_JOIN_TOKEN_TTL_MINUTES: z.coerce.number().int().min(1).max(7 * 24 * 60).default(60),
  /** A host whose agent has not been heard from for this long is shown offline. */
  BERTH_HOST_OFFLINE_AFTER_SECONDS: z.coerce.number().int().min(3).max(3600).default(15),
  /** Live log streams and downloads one user may have open at once (each holds a Docker connection on an agent). */
  BERTH_LOG_STREAMS_PER_USER: z.coerce.number().int().min(1).max(1000).default(20),
  /** Live log streams and downloads one host serves at once through this server (the agent caps itself at 64). */
  BERTH_LOG_STREAMS_PER_HOST: z.coerce.number().int().min(1).max(64).default(48),
  /** A terminal with no input and no output for this long is closed (decimals allowed: 0.5 = 30 s). */
  BERTH_TERMINAL_IDLE_MINUTES: z.coerce.number().min(0.01).max(24 * 60).default(15),
  /** Terminals (exec and attach) one user may have open at once, across all tabs and replicas. */
  BERTH_TERMINALS_PER_USER: z.coerce.number().int().min(1).max(100).default(8),
  /** A session's recording stops growing here (with a marker saying so); the session itself goes on. */
  BERTH_TERMINAL_RECORDING_MAX_MB: z.coerce.number().min(0.01).max(1024).default(8),
  /** The largest build context (an upload, and the tar it becomes) a user may send to a build. */
  BERTH_BUILD_CONTEXT_MAX_MB: z.coerce.number().min(0.01).max(2048).default(200),
  BERTH_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** Behind a reverse proxy: take the client address from X-Forwarded-For (audit, rate limits). */
  BERTH_TRUST_PROXY: z
    .enum(["true", "false", "1", "0"])
    .default("false")
    .transform((v) => v === "true" || v === "1"),
  /**
   * With BERTH_TRUST_PROXY: the proxy hops trusted to append to X-Forwarded-For (addresses or
   * CIDR ranges, comma-separated). The client is the rightmost address that is not one of them.
   */
  BERTH_TRUSTED_PROXIES: z
    .string()
    .default("127.0.0.0/8,::1,10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7")
    .transform((v, ctx) => {
      const entries = v.split(",").map((s) => s.trim()).filter(Boolean);
      for (const entry of entries) {
        if (!isAddressOrCidr(entry)) ctx.addIssue({ code: "custom", message: `not an IP address or CIDR range: ${entry}` });
      }
      return entries;
    }),
  /** How often the audit chain's head is signed and written outside the database (and at shutdown). */
  BERTH_AUDIT_CHECKPOINT_MINUTES: z.coerce.number().min(0.05).max(24 * 60).default(10),
  /** How often pulled image tags are compared with their registries ("update available"); 0 = never on a schedule. */
  BERTH_IMAGE_UPDATE_CHECK_MINUTES: z.coerce.number().min(0).max(7 * 24 * 60).default(360),
  /** Optional URL every audit checkpoint is POSTed to as JSON (failures are logged, not fatal). */
  BERTH_AUDIT_CHECKPOINT_WEBHOOK: z.string().url().optional(),
});

function isAddressOrCidr(entry: string): boolean {
  const [address, bits, extra] = entry.split("/");
  const family = isIP(address ?? "");
  if (!family || extra !== undefined) return false;
  if (bits === undefined) return true;
  const n = Number(bits);
  return /^\d+$/.test(bits) && n >= 0 && n <= (family === 4 ? 32 : 128);
}

export type ServerEnv = z.infer<typeof ZServerEnv> & { dataDir: string; publicUrl: string };

const KNOWN_PREFIXED = new Set(Object.keys(ZServerEnv.shape).filter((k) => k.startsWith("BERTH_")));
/** Variables read elsewhere (the agent, tests) that the server must not warn about. */
const FOREIGN_BERTH_VARS = new Set([
  "BERTH_SERVER_URL",
  "BERTH_JOIN_TOKEN",
  "BERTH_AGENT_STATE_DIR",
  "BERTH_AGENT_NAME",
  "BERTH_SERVER_FINGERPRINT",
  "BERTH_INSECURE_TRUST_FIRST_SERVER",
  "BERTH_ALLOW_INSECURE_HTTP",
  // The test suite's own knobs (test/, bench/): the server inherits them under `npm test`.
  "BERTH_CHROMIUM",
  "BERTH_CHURN_OPERATIONS",
  "BERTH_CHURN_SEED",
  "BERTH_FUZZ_DEBUG",
  "BERTH_FUZZ_SCALE",
  "BERTH_FUZZ_SEED",
]);

export function parseServerEnv(source: Record<string, string | undefined> = process.env): ServerEnv {
  const parsed = ZServerEnv.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid Berth configuration:\n${lines.join("\n")}`);
  }
  for (const key of Object.keys(source)) {
    if (key.startsWith("BERTH_") && !KNOWN_PREFIXED.has(key) && !FOREIGN_BERTH_VARS.has(key) && !key.startsWith("BERTH_TEST_")) {
      console.warn(`[berth] unknown setting ${key} is ignored (typo?)`);
    }
  }
  const env = parsed.data;
  const port = env.BERTH_PORT;
  return {
    ...env,
    dataDir: path.resolve(env.BERTH_DATA_DIR),
    publicUrl: (env.BERTH_PUBLIC_URL ?? `http://localhost:${port}`).replace(/\/$/, ""),
  };
}
