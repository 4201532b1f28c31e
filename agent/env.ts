/**
 * Agent configuration from process.env, validated once at start.
 */
import path from "node:path";
import { z } from "zod";

const zFlag = z
  .enum(["true", "false", "1", "0", ""])
  .optional()
  .transform((v) => v === "true" || v === "1");

const LOOPBACK_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);

const ZAgentEnv = z.object({
  /** Where the Berth server is, e.g. https://berth.example.com */
  BERTH_SERVER_URL: z
    .string()
    .url()
    .refine((v) => /^https?:\/\//.test(v), "must start with https:// (or http:// for a server on this machine)"),
  /** Single-use enrollment token from "Add host" in the UI. Only needed the first time. */
  BERTH_JOIN_TOKEN: z.preprocess((v) => (v === "" ? undefined : v), z.string().min(16).optional()),
  /** Holds identity.json (the private key). Keep it on a persistent volume. */
  BERTH_AGENT_STATE_DIR: z.string().default("./data/agent"),
  /** Docker endpoint: unix:///var/run/docker.sock (default) or a socket path. */
  DOCKER_HOST: z.string().optional(),
  BERTH_HEARTBEAT_SECONDS: z.coerce.number().int().min(1).max(300).default(5),
  /** How often the agent compares Docker's container list with what it reported (heals missed events). */
  BERTH_RECONCILE_SECONDS: z.coerce.number().min(0.5).max(3600).default(10),
  BERTH_LOG_LEVEL: z.enum(["debug", "info", "warn", "error"]).default("info"),
  /** The server key's fingerprint from the join command; pinned in identity.json at join. */
  BERTH_SERVER_FINGERPRINT: z.preprocess(
    (v) => (v === "" ? undefined : v),
    z.string().regex(/^SHA256:[0-9a-f]{64}$/, "expected SHA256: followed by 64 hex digits, as in the join command").optional(),
  ),
  /** Join without a fingerprint and pin whichever server answers first. Insecure: only for labs. */
  BERTH_INSECURE_TRUST_FIRST_SERVER: zFlag,
  /** Allow a plain http:// server URL other than localhost (traffic and join token readable on the network). */
  BERTH_ALLOW_INSECURE_HTTP: zFlag,
});

export type AgentEnv = z.infer<typeof ZAgentEnv> & { stateDir: string; socketPath: string };

const KNOWN = new Set([...Object.keys(ZAgentEnv.shape), "BERTH_AGENT_NAME"]);

export function parseAgentEnv(source: Record<string, string | undefined> = process.env): AgentEnv {
  const parsed = ZAgentEnv.safeParse(source);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid agent configuration:\n${lines.join("\n")}`);
  }
  for (const key of Object.keys(source)) {
    if (key.startsWith("BERTH_AGENT_") && !KNOWN.has(key)) console.warn(`[berth-agent] unknown setting ${key} is ignored`);
  }
  const serverUrl = new URL(parsed.data.BERTH_SERVER_URL);
  if (serverUrl.protocol === "http:" && !LOOPBACK_HOSTS.has(serverUrl.hostname) && !parsed.data.BERTH_ALLOW_INSECURE_HTTP) {
    throw new Error(
      `Invalid agent configuration:\n  BERTH_SERVER_URL: ${serverUrl.origin} is plain http:// on the network, so the join token and every command ` +
        "could be read or changed on the way. Use https://, or set BERTH_ALLOW_INSECURE_HTTP=true if you accept that.",
    );
  }
  const dockerHost = parsed.data.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  if (!dockerHost.startsWith("unix://") && !dockerHost.startsWith("/")) {
    throw new Error(`Invalid agent configuration:\n  DOCKER_HOST: only local unix sockets are supported (got ${dockerHost})`);
  }
  return {
    ...parsed.data,
    stateDir: path.resolve(parsed.data.BERTH_AGENT_STATE_DIR),
    socketPath: dockerHost.replace(/^unix:\/\//, ""),
  };
}
