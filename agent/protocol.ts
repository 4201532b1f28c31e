/**
 * Berth's agent wire contract — the ONLY shape of traffic between server and
 * agent, imported by both sides. Every frame is parsed with these schemas on
 * receipt; anything that does not parse is answered with an error frame and
 * dropped, never trusted and never allowed to crash either process.
 *
 * Bump PROTOCOL_VERSION on any breaking change: the server refuses agents that
 * speak another major version with a readable message.
 */
import { z } from "zod";
import { parseImageReference } from "./image-reference.ts";

export const PROTOCOL_VERSION = 3;
export const AGENT_NAMESPACE = "/agent";

/** Socket.io event names used on the /agent namespace. */
export const AgentEvent = {
  /** server → agent, right after connect: the nonce the agent must sign. */
  hello: "hello",
  /** agent → server (with ack): join with a token, or prove its key. */
  authenticate: "authenticate",
  /**
   * agent → server: full inventory, sent after every (re)connect and resync, in
   * parts that each fit a frame: begin (host info, counts), parts, end. The
   * server applies the whole snapshot in one transaction at `end`.
   */
  snapshotBegin: "inventory:snapshot:begin",
  snapshotPart: "inventory:snapshot:part",
  snapshotEnd: "inventory:snapshot:end",
  /** agent → server: one object changed or disappeared (from Docker events). */
  change: "inventory:change",
  /**
   * agent → server: after each periodic reconciliation, a digest of every
   * container the agent has reported, and how many records it found wrong
   * (drift) and corrected. The server compares the digest with its rows and
   * asks for a resync when they differ.
   */
  reconciled: "inventory:reconciled",
  /** server → agent: the server's mirror is wrong (or could not be stored): send a fresh snapshot. */
  resync: "inventory:resync",
  /** agent → server: liveness + cheap host figures. */
  heartbeat: "heartbeat",
  /** server → agent (with ack): an operation request. */
  request: "request",
  /** server → agent (with ack): open a stream (e.g. follow a container's logs). */
  streamOpen: "stream:open",
  /** server → agent: stop a stream the server no longer wants. */
  streamCancel: "stream:cancel",
  /** agent → server: one batch of a stream's data. */
  streamData: "stream:data",
  /** agent → server: a stream ended (naturally, cancelled, or with an error). */
  streamEnd: "stream:end",
  /** server → agent: frames up to `seq` were delivered; the agent may send STREAM_WINDOW_FRAMES beyond it. */
  streamAck: "stream:ack",
  /**
   * server → agent: input for a two-way stream (a terminal's keystrokes, its
   * new size). Only streams whose contract entry declares an `input` schema
   * take it; anything else is dropped.
   */
  streamInput: "stream:input",
  /**
   * agent → server: Docker's lifecycle events of containers (start, die with
   * its exit code, oom, kill with its signal, health changes, …), in batches,
   * for the per-container history the server keeps. Additive: a server that
   * does not know it refuses it with an error frame, nothing else breaks.
   */
  containerEvents: "container:events",
  /** either way: a frame that could not be accepted. */
  error: "protocol:error",
} as const;

// ------------------------------------------------------------------ auth

const ZSignature = z.string().min(16).max(512); // base64 Ed25519 signature
const ZPublicKeyPem = z.string().startsWith("-----BEGIN PUBLIC KEY-----").max(1024);

const ZNonce = z.string().min(32).max(128);

/**
 * What the agent puts in the socket.io handshake (`auth`) of every connection:
 * its own fresh challenge for the server, the agent id it will claim (absent
 * when joining), and a random id of this agent process (tells a reconnect of
 * the same process apart from a second copy of the same identity).
 */
export const ZAgentHandshake = z.object({
  agentNonce: ZNonce,
  agentId: z.string().min(1).max(64).optional(),
  instanceId: z.string().min(8).max(64).optional(),
});
export type TAgentHandshake = z.infer<typeof ZAgentHandshake>;

/** The server's answer to the agent's challenge: its long-lived public key and a signature by it. */
export const ZServerProof = z.object({ publicKey: ZPublicKeyPem, signature: ZSignature });
export type TServerProof = z.infer<typeof ZServerProof>;

export const ZHello = z.object({
  nonce: ZNonce,
  protocolVersion: z.number().int(),
  serverId: z.string().max(128),
  /** Present when the agent sent a handshake challenge; the agent verifies it before sending anything. */
  server: ZServerProof.optional(),
});
export type THello = z.infer<typeof ZHello>;

export const ZAgentInfo = z.object({
  agentVersion: z.string().max(64),
  protocolVersion: z.number().int(),
});

/**
 * Join: a single-use token plus the public key the agent just generated, and a
 * signature over the nonce proving it holds the matching private key.
 * Key: the agent id it was given at join, and a signature over the nonce.
 */
export const ZAuthenticate = z.discriminatedUnion("mode", [
  z.object({
    mode: z.literal("join"),
    token: z.string().min(16).max(256),
    publicKey: ZPublicKeyPem,
    signature: ZSignature,
    info: ZAgentInfo,
  }),
  z.object({
    mode: z.literal("key"),
    agentId: z.string().min(1).max(64),
    signature: ZSignature,
    info: ZAgentInfo,
  }),
]);
export type TAuthenticate = z.infer<typeof ZAuthenticate>;

export const ZAuthenticateResult = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), agentId: z.string(), hostId: z.string(), hostName: z.string() }),
  z.object({ ok: z.literal(false), error: z.string() }),
]);
export type TAuthenticateResult = z.infer<typeof ZAuthenticateResult>;

/** The exact bytes an agent signs: domain-separated so a signature is useless elsewhere. */
export function authChallengeMessage(nonce: string, subject: string): string {
  return `berth-agent-auth:v${PROTOCOL_VERSION}:${nonce}:${subject}`;
}

/**
 * The exact bytes the server signs for an agent: both nonces (the server's
 * and the agent's, so neither side alone chooses what gets signed) and the
 * agent id it claims ("join" when joining), under a label of its own so a
 * server signature can never pass for an agent's or an audit checkpoint's.
 */
export function serverProofMessage(serverNonce: string, agentNonce: string, subject: string): string {
  return `berth-server-proof:v${PROTOCOL_VERSION}:${serverNonce}:${agentNonce}:${subject}`;
}

// ------------------------------------------------------------------ inventory

const ZIsoDate = z.string().datetime({ offset: true });

export const ZHostInfo = z.object({
  hostname: z.string().max(255),
  os: z.string().max(255),
  kernel: z.string().max(255),
  arch: z.string().max(64),
  dockerVersion: z.string().max(64),
  apiVersion: z.string().max(16),
  cpus: z.number().int().nonnegative(),
  memoryBytes: z.number().int().nonnegative(),
});
export type THostInfo = z.infer<typeof ZHostInfo>;

export const ZPort = z.object({
  ip: z.string().optional(),
  privatePort: z.number().int(),
  publicPort: z.number().int().optional(),
  type: z.string(),
});

/**
 * One container as Docker's inspect describes it at the moment it was read.
 * Everything comes from inspect (never mixed with the container list, which
 * can lag behind a state change); the human status ("Up 3 minutes") is not
 * sent: it is derived when shown, from state and timestamps.
 */
export const ZContainerRecord = z.object({
  id: z.string().min(12).max(128),
  name: z.string().max(255),
  image: z.string().max(1024),
  imageId: z.string().max(128),
  command: z.string().max(4096),
  /** Docker's State.Status: created | running | paused | restarting | removing | exited | dead. */
  state: z.string().max(32),
  /** State.Health.Status (starting | healthy | unhealthy), null without a healthcheck. */
  health: z.string().max(32).nullable(),
  /** State.ExitCode: the last exit's code (0 while running or never run). */
  exitCode: z.number().int().nullable(),
  oomKilled: z.boolean(),
  restartCount: z.number().int().nonnegative(),
  startedAt: ZIsoDate.nullable(),
  finishedAt: ZIsoDate.nullable(),
  createdAt: ZIsoDate,
  ports: z.array(ZPort).max(4096),
  labels: z.record(z.string(), z.string()),
  inspect: z.record(z.string(), z.unknown()).nullable(),
});
export type TContainerRecord = z.infer<typeof ZContainerRecord>;

export const ZImageRecord = z.object({
  id: z.string().min(12).max(128),
  repoTags: z.array(z.string().max(1024)),
  repoDigests: z.array(z.string().max(1024)),
  parentId: z.string().max(128).nullable(),
  sizeBytes: z.number().int().nonnegative(),
  createdAt: ZIsoDate,
  labels: z.record(z.string(), z.string()),
});
export type TImageRecord = z.infer<typeof ZImageRecord>;

export const ZVolumeRecord = z.object({
  name: z.string().min(1).max(255),
  driver: z.string().max(64),
  mountpoint: z.string().max(4096),
  scope: z.string().max(16),
  labels: z.record(z.string(), z.string()),
  createdAt: ZIsoDate.nullable(),
});
export type TVolumeRecord = z.infer<typeof ZVolumeRecord>;

export const ZNetworkRecord = z.object({
  id: z.string().min(12).max(128),
  name: z.string().max(255),
  driver: z.string().max(64),
  scope: z.string().max(16),
  internal: z.boolean(),
  subnets: z.array(z.string().max(64)),
  labels: z.record(z.string(), z.string()),
  createdAt: ZIsoDate.nullable(),
});
export type TNetworkRecord = z.infer<typeof ZNetworkRecord>;

export const ZSnapshot = z.object({
  host: ZHostInfo,
  containers: z.array(ZContainerRecord),
  images: z.array(ZImageRecord),
  volumes: z.array(ZVolumeRecord),
  networks: z.array(ZNetworkRecord),
  takenAt: ZIsoDate,
});
export type TSnapshot = z.infer<typeof ZSnapshot>;

/** Upper bounds the server holds a snapshot in progress to (memory per agent is bounded). */
export const SNAPSHOT_LIMITS = { containers: 50_000, images: 20_000, volumes: 20_000, networks: 5_000, parts: 10_000 } as const;
/** Target size of one snapshot part's JSON: well under the agent frame limit. */
export const SNAPSHOT_PART_BYTES = 256 * 1024;

const ZSnapshotId = z.string().min(1).max(64);
export const ZSnapshotBegin = z.object({
  snapshotId: ZSnapshotId,
  host: ZHostInfo,
  takenAt: ZIsoDate,
  counts: z.object({
    containers: z.number().int().min(0).max(SNAPSHOT_LIMITS.containers),
    images: z.number().int().min(0).max(SNAPSHOT_LIMITS.images),
    volumes: z.number().int().min(0).max(SNAPSHOT_LIMITS.volumes),
    networks: z.number().int().min(0).max(SNAPSHOT_LIMITS.networks),
  }),
});
export type TSnapshotBegin = z.infer<typeof ZSnapshotBegin>;
export const ZSnapshotPart = z.object({
  snapshotId: ZSnapshotId,
  containers: z.array(ZContainerRecord).default([]),
  images: z.array(ZImageRecord).default([]),
  volumes: z.array(ZVolumeRecord).default([]),
  networks: z.array(ZNetworkRecord).default([]),
});
export type TSnapshotPart = z.infer<typeof ZSnapshotPart>;
export const ZSnapshotEnd = z.object({ snapshotId: ZSnapshotId });

export const ZReconciled = z.object({
  /** Containers the agent has reported and not removed. */
  containers: z.number().int().nonnegative(),
  /** sha256 (hex) of the sorted container digest lines, see `containerDigestLine`. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  /** Records found wrong by this reconciliation and corrected (0 when all was in step). */
  corrected: z.number().int().nonnegative(),
  checkedAt: ZIsoDate,
});
export type TReconciled = z.infer<typeof ZReconciled>;
export const ZResync = z.object({ reason: z.string().max(256) });

/**
 * The fields both sides digest to agree that the server's mirror equals what
 * the agent reported: what a user acts on (state, exit code, name, health, ports).
 */
export function containerDigestLine(c: {
  id: string;
  name: string;
  state: string;
  exitCode: number | null;
  health: string | null;
  ports: Array<{ ip?: string; privatePort: number; publicPort?: number; type: string }>;
}): string {
  return `${c.id}|${c.name}|${c.state}|${c.exitCode ?? ""}|${c.health ?? ""}|${portsKey(c.ports)}`;
}

/** A container's ports as one comparable string, whatever order Docker listed them in. */
export function portsKey(ports: Array<{ ip?: string; privatePort: number; publicPort?: number; type: string }>): string {
  return ports
    .map((p) => `${p.ip ?? ""}:${p.publicPort ?? ""}:${p.privatePort}/${p.type}`)
    .sort()
    .join(",");
}

/** One object changed (upsert) or vanished (remove), derived from a Docker event. */
export const ZInventoryChange = z.union([
  z.object({ kind: z.literal("container"), op: z.literal("upsert"), record: ZContainerRecord }),
  z.object({ kind: z.literal("container"), op: z.literal("remove"), id: z.string().min(1) }),
  z.object({ kind: z.literal("image"), op: z.literal("upsert"), record: ZImageRecord }),
  z.object({ kind: z.literal("image"), op: z.literal("remove"), id: z.string().min(1) }),
  z.object({ kind: z.literal("volume"), op: z.literal("upsert"), record: ZVolumeRecord }),
  z.object({ kind: z.literal("volume"), op: z.literal("remove"), id: z.string().min(1) }),
  z.object({ kind: z.literal("network"), op: z.literal("upsert"), record: ZNetworkRecord }),
  z.object({ kind: z.literal("network"), op: z.literal("remove"), id: z.string().min(1) }),
]);
export type TInventoryChange = z.infer<typeof ZInventoryChange>;

/** The container actions kept in a container's lifecycle history. */
export const CONTAINER_HISTORY_ACTIONS = [
  "create", "start", "die", "oom", "kill", "stop", "restart", "pause", "unpause", "rename", "destroy", "health_status",
] as const;
export const ZContainerHistoryAction = z.enum(CONTAINER_HISTORY_ACTIONS);

/** One lifecycle event of a container, as Docker reported it (with the attributes that say what happened). */
export const ZContainerEvent = z.object({
  containerId: z.string().min(12).max(128),
  action: ZContainerHistoryAction,
  /** Docker's event time (timeNano), as an ISO date with milliseconds. */
  at: ZIsoDate,
  /** The container's name at the time (Docker's `name` attribute). */
  name: z.string().max(255),
  image: z.string().max(1024),
  /** die: the exit code. */
  exitCode: z.number().int().nullable(),
  /** kill: the signal (e.g. "9", "SIGTERM" as Docker writes it). */
  signal: z.string().max(32).nullable(),
  /** health_status: healthy | unhealthy | starting. */
  health: z.string().max(32).nullable(),
  /** rename: the previous name. */
  oldName: z.string().max(255).nullable(),
});
export type TContainerEvent = z.infer<typeof ZContainerEvent>;
export const CONTAINER_EVENTS_BATCH_MAX = 100;
export const ZContainerEvents = z.object({ events: z.array(ZContainerEvent).min(1).max(CONTAINER_EVENTS_BATCH_MAX) });
export type TContainerEvents = z.infer<typeof ZContainerEvents>;

export const ZHeartbeat = z.object({
  sentAt: ZIsoDate,
  containersRunning: z.number().int().nonnegative(),
  rssBytes: z.number().int().nonnegative(),
});
export type THeartbeat = z.infer<typeof ZHeartbeat>;

// ------------------------------------------------------------------ container create

/** Docker's rule for container names (daemon/names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`), one optional leading slash. */
export const CONTAINER_NAME_PATTERN = /^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;
export const ZContainerName = z
  .string()
  .max(255)
  .regex(CONTAINER_NAME_PATTERN, "must be at least 2 characters: letters, digits, '_', '.' or '-', starting with a letter or digit");

const ZPortNumberOrRange = z
  .string()
  .regex(/^\d{1,5}(-\d{1,5})?$/, "A port is a number (1-65535) or a range like 8000-8010")
  .refine((v) => v.split("-").every((n) => Number(n) >= 1 && Number(n) <= 65535), "Ports are between 1 and 65535")
  .refine((v) => {
    const [a, b] = v.split("-").map(Number);
    return b === undefined || b >= a!;
  }, "A range goes from the lower port to the higher");

/** One `-p [ip:][hostPort]:containerPort[/proto]` entry; an empty hostPort = a random port Docker picks. */
export const ZPortSpec = z.object({
  ip: z.union([z.ipv4(), z.ipv6(), z.literal("")]).default(""),
  hostPort: z.union([ZPortNumberOrRange, z.literal("")]).default(""),
  containerPort: ZPortNumberOrRange,
  protocol: z.enum(["tcp", "udp", "sctp"]).default("tcp"),
});
export type TPortSpec = z.infer<typeof ZPortSpec>;

const ZContainerPath = z.string().min(1).max(4096).startsWith("/", "A path inside the container is absolute (starts with /)");

/**
 * One `-v` entry, kept as `-v` (Docker's HostConfig.Binds): `source` is a host
 * path (starts with /) or a named volume; none = an anonymous volume.
 */
export const ZVolumeSpec = z.object({
  source: z.string().max(4096).regex(/^(\/|[a-zA-Z0-9][a-zA-Z0-9_.-]*$)/, "A source is an absolute host path or a volume name").optional(),
  target: ZContainerPath,
  readOnly: z.boolean().default(false),
  /** Extra `-v` mode words Docker accepts (z, Z, rprivate, nocopy, …), kept verbatim. */
  mode: z.array(z.string().regex(/^[a-zA-Z]+$/).max(16)).max(8).default([]),
});
export type TVolumeSpec = z.infer<typeof ZVolumeSpec>;

/** One `--mount` entry (Docker's HostConfig.Mounts). */
export const ZMountSpec = z.object({
  type: z.enum(["bind", "volume", "tmpfs"]),
  source: z.string().max(4096).optional(),
  target: ZContainerPath,
  readOnly: z.boolean().default(false),
  bindPropagation: z.enum(["private", "rprivate", "shared", "rshared", "slave", "rslave"]).optional(),
  volumeNoCopy: z.boolean().optional(),
  volumeLabels: z.record(z.string().max(256), z.string().max(4096)).optional(),
  volumeDriver: z.string().max(128).optional(),
  volumeOptions: z.record(z.string().max(256), z.string().max(4096)).optional(),
  tmpfsSizeBytes: z.number().int().nonnegative().optional(),
  tmpfsMode: z.number().int().min(0).max(0o7777).optional(),
});
export type TMountSpec = z.infer<typeof ZMountSpec>;

export const ZHealthcheckSpec = z.object({
  /** Docker's Test: ["CMD-SHELL", line], ["CMD", ...argv], ["NONE"] (disable the image's), or empty (keep the image's, change timings). */
  test: z.array(z.string().max(8192)).max(256).default([]),
  intervalMs: z.number().int().nonnegative().optional(),
  timeoutMs: z.number().int().nonnegative().optional(),
  startPeriodMs: z.number().int().nonnegative().optional(),
  retries: z.number().int().nonnegative().optional(),
});

const ZEnvEntry = z.string().min(1).max(65_536).regex(/^[^=\s][^=]*(=|$)/s, "An environment entry is NAME=value (or NAME to pass it unset)");

/**
 * A container to create: what `docker run`'s flags describe, typed. Absent
 * fields are left to Docker (and to the image) exactly as the CLI leaves them,
 * so `docker inspect` reads the same for a line typed into a shell and the
 * same line pasted into Berth.
 */
export const ZContainerCreateSpec = z.object({
  image: z.string().min(1).max(1024).regex(/^[^\s]+$/, "An image reference has no spaces"),
  name: ZContainerName.optional(),
  /** Replaces the image's CMD when given. */
  cmd: z.array(z.string().max(65_536)).max(1024).optional(),
  /** Replaces the image's ENTRYPOINT when given ([""] resets it, like `--entrypoint ""`). */
  entrypoint: z.array(z.string().max(65_536)).max(1024).optional(),
  env: z.array(ZEnvEntry).max(1024).default([]),
  ports: z.array(ZPortSpec).max(1024).default([]),
  /** `--expose`: ports opened without publishing them. */
  expose: z.array(z.string().regex(/^\d{1,5}(-\d{1,5})?(\/(tcp|udp|sctp))?$/, "An exposed port is a number or range, optionally /tcp|/udp|/sctp")).max(1024).default([]),
  publishAll: z.boolean().default(false),
  volumes: z.array(ZVolumeSpec).max(256).default([]),
  mounts: z.array(ZMountSpec).max(256).default([]),
  user: z.string().max(256).optional(),
  workdir: z.string().max(4096).startsWith("/", "The working directory is an absolute path").optional(),
  interactive: z.boolean().default(false),
  tty: z.boolean().default(false),
  restart: z
    .object({ name: z.enum(["no", "always", "unless-stopped", "on-failure"]), maximumRetryCount: z.number().int().min(0).max(1_000_000).default(0) })
    .refine((r) => r.name === "on-failure" || r.maximumRetryCount === 0, "Only on-failure takes a retry count")
    .optional(),
  /** Bytes; Docker's minimum is 6 MiB (its own error says so). */
  memoryBytes: z.number().int().positive().optional(),
  memorySwapBytes: z.number().int().min(-1).optional(),
  memoryReservationBytes: z.number().int().positive().optional(),
  /** `--cpus`: fractions of a CPU (Docker's NanoCpus = cpus × 1e9). */
  cpus: z.number().positive().max(1024).optional(),
  cpuShares: z.number().int().min(0).max(262_144).optional(),
  labels: z.record(z.string().min(1).max(1024), z.string().max(65_536)).default({}),
  /** The first network is the container's network mode; the others are connected after create. */
  networks: z
    .array(z.object({ name: z.string().min(1).max(255), aliases: z.array(z.string().min(1).max(255)).max(64).default([]) }))
    .max(32)
    .default([]),
  hostname: z.string().max(255).regex(/^[a-zA-Z0-9][a-zA-Z0-9.-]*$/, "A hostname holds letters, digits, dots and dashes").optional(),
  domainname: z.string().max(255).optional(),
  dns: z.array(z.union([z.ipv4(), z.ipv6()])).max(16).default([]),
  dnsSearch: z.array(z.string().min(1).max(255)).max(16).default([]),
  dnsOptions: z.array(z.string().min(1).max(255)).max(16).default([]),
  /** `host:ip` entries for /etc/hosts. */
  extraHosts: z.array(z.string().regex(/^[^:\s]+:[0-9a-fA-F:.]+$|^[^:\s]+:host-gateway$/, "An extra host is name:ip")).max(256).default([]),
  init: z.boolean().optional(),
  stopSignal: z.string().max(32).regex(/^(SIG)?[A-Z0-9+-]+$|^\d+$/, "A signal is a name like SIGTERM or a number").optional(),
  stopTimeoutSeconds: z.number().int().min(-1).max(86_400).optional(),
  healthcheck: ZHealthcheckSpec.optional(),
  logDriver: z.string().max(64).regex(/^[a-z0-9_.-]+$/, "A log driver name is lower case letters, digits, - _ .").optional(),
  logOptions: z.record(z.string().min(1).max(256), z.string().max(4096)).default({}),
  readOnly: z.boolean().default(false),
  tmpfs: z.record(ZContainerPath, z.string().max(1024)).default({}),
  // Root-equivalent options: the server refuses them without `container.privileged`.
  privileged: z.boolean().default(false),
  capAdd: z.array(z.string().regex(/^[A-Za-z_]+$/, "A capability is a name like NET_ADMIN").max(64)).max(64).default([]),
  capDrop: z.array(z.string().regex(/^[A-Za-z_]+$/, "A capability is a name like NET_ADMIN").max(64)).max(64).default([]),
  /** `--device /dev/x[:/dev/y[:rwm]]`. */
  devices: z
    .array(z.object({ pathOnHost: z.string().min(1).max(4096), pathInContainer: z.string().min(1).max(4096), permissions: z.string().regex(/^[rwm]{1,3}$/).default("rwm") }))
    .max(64)
    .default([]),
  pidMode: z.enum(["host"]).optional(),
  ipcMode: z.enum(["host", "private", "shareable", "none"]).optional(),
  /** Start it after create (what `docker run` does). */
  start: z.boolean().default(true),
  /** `--rm`: Docker removes it when it exits. */
  autoRemove: z.boolean().default(false),
});
export type TContainerCreateSpec = z.infer<typeof ZContainerCreateSpec>;
export type TContainerCreateSpecInput = z.input<typeof ZContainerCreateSpec>;

// ------------------------------------------------------------------ operations

const ZContainerRef = z.object({ containerId: z.string().min(1).max(128) });

/** Linux signal names Docker accepts for `docker kill -s` (with or without the SIG prefix). */
export const SIGNAL_NAMES = [
  "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
  "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO", "PWR", "SYS",
] as const;
const SIGNAL_PATTERN = new RegExp(`^(?:(?:SIG)?(?:${SIGNAL_NAMES.join("|")})|SIGRTMIN(?:\\+(?:[1-9]|1[0-5]))?|SIGRTMAX(?:-(?:[1-9]|1[0-4]))?|[1-9]|[1-5][0-9]|6[0-4])$`, "i");
/** A signal as `docker kill -s` takes it: a name in any case (SIGKILL, kill, SIGRTMIN+3) or a number 1-64. */
export const ZSignal = z.string().max(16).regex(SIGNAL_PATTERN, "must be a signal name such as SIGTERM or KILL, or a number from 1 to 64");


export const RESTART_POLICIES = ["no", "always", "unless-stopped", "on-failure"] as const;
/** What `docker update` can change; every field optional, only those given are sent to Docker. */
export const ZContainerUpdate = z.object({
  memoryBytes: z.number().int().min(0).max(2 ** 50).optional(),
  /** Memory plus swap; -1 = unlimited swap. */
  memorySwapBytes: z.number().int().min(-1).max(2 ** 50).optional(),
  cpuShares: z.number().int().min(0).max(262_144).optional(),
  cpuPeriod: z.number().int().min(0).max(1_000_000).optional(),
  cpuQuota: z.number().int().min(-1).max(2 ** 40).optional(),
  nanoCpus: z.number().int().min(0).max(2 ** 50).optional(),
  restartPolicy: z
    .object({ name: z.enum(RESTART_POLICIES), maximumRetryCount: z.number().int().min(0).max(1000).optional() })
    .optional(),
});
export type TContainerUpdate = z.infer<typeof ZContainerUpdate>;
export const TOP_MAX_PROCESSES = 2_000;
export const CHANGES_MAX_PATHS = 20_000;

/** A repository name as Docker accepts it (lower-case path components, optional registry host:port). */
export const ZImageRepository = z
  .string()
  .min(1)
  .max(255)
  .regex(/^(?:[a-z0-9.-]+(?::[0-9]+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/, "lower-case letters, digits and separators (. _ - /), like library/app");
export const ZImageTag = z.string().min(1).max(128).regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/, "letters, digits, _ . - (not starting with . or -)");
/** Dockerfile instructions `docker commit --change` accepts. */
export const COMMIT_CHANGE_INSTRUCTIONS = ["CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "USER", "VOLUME", "WORKDIR", "STOPSIGNAL", "HEALTHCHECK"] as const;
export const ZCommitChange = z
  .string()
  .min(1)
  .max(4096)
  .refine((line) => (COMMIT_CHANGE_INSTRUCTIONS as readonly string[]).includes(line.trim().split(/\s+/)[0]!.toUpperCase()), {
    message: `each change is one Dockerfile instruction: ${COMMIT_CHANGE_INSTRUCTIONS.join(", ")}`,
  });
export const ZContainerCommitParams = ZContainerRef.extend({
  repository: ZImageRepository,
  tag: ZImageTag.default("latest"),
  comment: z.string().max(4096).default(""),
  author: z.string().max(255).default(""),
  changes: z.array(ZCommitChange).max(50).default([]),
  /** Pause the container while its file system is copied (Docker's default). */
  pause: z.boolean().default(true),
});
export type TContainerCommitParams = z.infer<typeof ZContainerCommitParams>;

export const IMAGE_LAYERS_MAX = 512;
const ZImageRefParam = z.string().min(1).max(512).regex(/^[^\s\0]+$/, "an image id or reference");
/** An image's read-only layers, base first, each with what made it and the other images sharing it. */
export const ZImageLayers = z.object({
  id: z.string().max(128),
  repoTags: z.array(z.string().max(1024)).max(50),
  sizeBytes: z.number().int().nonnegative(),
  layers: z
    .array(
      z.object({
        digest: z.string().max(128),
        /** null when Docker's history could not be matched to the layers (the order is still right). */
        sizeBytes: z.number().int().nonnegative().nullable(),
        createdBy: z.string().max(4096).nullable(),
        sharedWith: z.array(z.object({ id: z.string().max(128), tags: z.array(z.string().max(1024)).max(5) })).max(50),
      }),
    )
    .max(IMAGE_LAYERS_MAX),
  /** Every build step, oldest first, including those that made no layer (ENV, CMD, …). */
  history: z
    .array(
      z.object({
        createdBy: z.string().max(4096),
        created: ZIsoDate.nullable(),
        sizeBytes: z.number().int().nonnegative(),
        comment: z.string().max(1024),
        makesLayer: z.boolean(),
      }),
    )
    .max(IMAGE_LAYERS_MAX * 4),
});
export type TImageLayers = z.infer<typeof ZImageLayers>;

/** One row of `docker system df`: how many, how many in use, bytes on disk, bytes a prune could free. */
const ZDiskUsageRow = z.object({
  count: z.number().int().nonnegative(),
  active: z.number().int().nonnegative(),
  sizeBytes: z.number().int().nonnegative(),
  reclaimableBytes: z.number().int().nonnegative(),
});
/** `docker system df`, summed the way Docker's CLI sums it (see agent/docker/system-df.ts). */
export const ZSystemDf = z.object({ images: ZDiskUsageRow, containers: ZDiskUsageRow, volumes: ZDiskUsageRow, buildCache: ZDiskUsageRow });
export type TSystemDf = z.infer<typeof ZSystemDf>;
// ------------------------------------------------------------------ image tag, untag, remove, prune

/** A reference to create or push: `[registry/]repository[:tag]` (a digest is refused by the agent). */
const ZImageTargetRef = z.string().min(1).max(512).regex(/^[^\s\0]+$/, "an image reference");
/** What `docker rmi` answered: the references it untagged and the ids (images, layers) it deleted. */
export const ZImageDeleteResult = z.object({ untagged: z.array(z.string().max(1024)).max(500), deleted: z.array(z.string().max(256)).max(500) });
export type TImageDeleteResult = z.infer<typeof ZImageDeleteResult>;
export const IMAGE_PRUNE_MODES = ["dangling", "unused"] as const;
export type TImagePruneMode = (typeof IMAGE_PRUNE_MODES)[number];
export const IMAGE_PRUNE_MAX = 2_000;
/** What a prune would take: the images (children before parents) and the bytes only they hold, shared layers once. */
export const ZImagePrunePreview = z.object({
  mode: z.enum(IMAGE_PRUNE_MODES),
  images: z
    .array(
      z.object({
        id: z.string().max(128),
        tags: z.array(z.string().max(1024)).max(20),
        sizeBytes: z.number().int().nonnegative(),
        createdAt: ZIsoDate,
        /** An untagged step other images were built on (goes with them). */
        intermediate: z.boolean(),
      }),
    )
    .max(IMAGE_PRUNE_MAX),
  reclaimableBytes: z.number().int().nonnegative(),
});
export type TImagePrunePreview = z.infer<typeof ZImagePrunePreview>;
export const ZImagePruneResult = z.object({
  removed: z.array(z.object({ id: z.string().max(128), tags: z.array(z.string().max(1024)).max(20) })).max(IMAGE_PRUNE_MAX),
  /** Previewed images left alone: used or tagged since, already gone, or Docker refused (its words). */
  skipped: z.array(z.object({ id: z.string().max(512), reason: z.string().max(1024) })).max(IMAGE_PRUNE_MAX),
  reclaimedBytes: z.number().int().nonnegative(),
});
export type TImagePruneResult = z.infer<typeof ZImagePruneResult>;

// ------------------------------------------------------------------ log search

/** At most this many matches per search (the answer says when there were more). */
export const LOG_SEARCH_MAX_MATCHES = 1_000;
/** Lines in a search answer are cut to this many characters (the log view shows the whole line). */
export const LOG_SEARCH_LINE_CHARS = 2_000;
export const LOG_SEARCH_MAX_CONTEXT = 10;
/** A search answer stops growing at about this many characters, well below the agent frame limit (1 MiB). */
export const LOG_SEARCH_MAX_ANSWER_CHARS = 500_000;

export const ZLogSearchParams = ZContainerRef.extend({
  query: z.string().min(1).max(1024),
  /** A JavaScript regular expression; otherwise the query is plain text. */
  regex: z.boolean().default(false),
  caseSensitive: z.boolean().default(false),
  /** Lines of context before and after each match (grep -C). */
  context: z.number().int().min(0).max(LOG_SEARCH_MAX_CONTEXT).default(2),
  since: ZIsoDate.nullable().default(null),
  until: ZIsoDate.nullable().default(null),
  maxMatches: z.number().int().min(1).max(LOG_SEARCH_MAX_MATCHES).default(LOG_SEARCH_MAX_MATCHES),
  /** The search stops after this long and answers with what it found (a pathological regex cannot hold the agent). */
  timeBudgetMs: z.number().int().min(100).max(120_000).default(30_000),
});
export type TLogSearchParams = z.infer<typeof ZLogSearchParams>;

const ZLogSearchLine = z.object({
  stream: z.enum(["stdout", "stderr"]),
  ts: z.string().max(40),
  text: z.string().max(LOG_SEARCH_LINE_CHARS),
  /** The line was longer than LOG_SEARCH_LINE_CHARS and is cut. */
  cut: z.boolean().optional(),
});
export type TLogSearchLine = z.infer<typeof ZLogSearchLine>;

export const ZLogSearchResult = z.object({
  matches: z
    .array(z.object({ line: ZLogSearchLine, before: z.array(ZLogSearchLine).max(LOG_SEARCH_MAX_CONTEXT), after: z.array(ZLogSearchLine).max(LOG_SEARCH_MAX_CONTEXT) }))
    .max(LOG_SEARCH_MAX_MATCHES),
  /** Lines of the log read. */
  scannedLines: z.number().int().nonnegative(),
  /** Why the search stopped before the end of the log: too many matches, answer too large, out of time; null = whole range searched. */
  truncated: z.enum(["matches", "size", "time"]).nullable(),
});
export type TLogSearchResult = z.infer<typeof ZLogSearchResult>;

/**
 * Every operation the server may ask of an agent, with its params and result.
 * The agent refuses anything not listed here: there is no raw Docker passthrough.
 */
export const operations = {
  "container.start": { params: ZContainerRef, result: z.object({}) },
  "container.stop": {
    params: ZContainerRef.extend({ timeoutSeconds: z.number().int().min(0).max(600).optional() }),
    result: z.object({}),
  },
  "container.restart": {
    params: ZContainerRef.extend({ timeoutSeconds: z.number().int().min(0).max(600).optional() }),
    result: z.object({}),
  },
  "container.kill": {
    params: ZContainerRef.extend({ signal: ZSignal }),
    result: z.object({}),
  },
  "container.pause": { params: ZContainerRef, result: z.object({}) },
  "container.unpause": { params: ZContainerRef, result: z.object({}) },
  "container.rename": { params: ZContainerRef.extend({ name: ZContainerName }), result: z.object({}) },
  "container.remove": {
    params: ZContainerRef.extend({
      force: z.boolean().default(false),
      /** Also remove the container's anonymous volumes (`docker rm -v`); named volumes are kept, as Docker does. */
      removeVolumes: z.boolean().default(false),
    }),
    result: z.object({}),
  },
  /** `docker update`: only the fields given are changed. */
  "container.update": { params: ZContainerRef.extend(ZContainerUpdate.shape), result: z.object({ warnings: z.array(z.string().max(1024)).max(32) }) },
  "host.ping": { params: z.object({}), result: z.object({ dockerVersion: z.string() }) },
  /** `docker system df`: images, containers' writable layers, volumes, build cache. */
  "system.df": { params: z.object({}), result: ZSystemDf },
  /** `docker create` (+ network connects, + start when asked): the new container's id, or Docker's error verbatim. */
  "container.create": {
    params: z.object({ spec: ZContainerCreateSpec }),
    result: z.object({ id: z.string().min(12).max(128), warnings: z.array(z.string().max(4096)).max(64) }),
  },
  /** The create spec that would make another container like this one (from a fresh inspect, image defaults left out). */
  "container.spec": {
    params: ZContainerRef,
    result: z.object({ spec: ZContainerCreateSpec, name: z.string().max(255), state: z.string().max(32) }),
  },
  /**
   * Recreate with a changed spec, on the agent so no step waits on the network:
   * the old container is renamed aside and stopped, the new one created under
   * the old name and started; if it fails to start, or is not running (or is
   * unhealthy) after `watchMs`, it is removed and the old one renamed back and
   * restarted. Otherwise the old one is removed.
   */
  "container.recreate": {
    params: ZContainerRef.extend({ spec: ZContainerCreateSpec, watchMs: z.number().int().min(0).max(120_000).default(3_000) }),
    result: z.discriminatedUnion("outcome", [
      z.object({ outcome: z.literal("replaced"), id: z.string().min(12).max(128) }),
      z.object({ outcome: z.literal("rolledBack"), id: z.string().min(12).max(128), reason: z.string().max(8192) }),
    ]),
  },
  /** `docker top`: the container's processes as `ps` lists them (command lines masked like inspect). */
  "container.top": {
    params: ZContainerRef,
    result: z.object({
      titles: z.array(z.string().max(64)).max(64),
      processes: z.array(z.array(z.string().max(4096)).max(64)).max(TOP_MAX_PROCESSES),
      truncated: z.boolean(),
    }),
  },
  /** `docker diff`: paths of the writable layer added (1), changed (0) or deleted (2) against the image. */
  "container.changes": {
    params: ZContainerRef,
    result: z.object({
      changes: z.array(z.object({ path: z.string().max(4096), kind: z.union([z.literal(0), z.literal(1), z.literal(2)]) })).max(CHANGES_MAX_PATHS),
      truncated: z.boolean(),
      total: z.number().int().nonnegative(),
    }),
  },
  /** Inspect with sizes: the writable layer (SizeRw) and everything the container sees (SizeRootFs). */
  "container.size": {
    params: ZContainerRef,
    result: z.object({ sizeRw: z.number().int().nonnegative().nullable(), sizeRootFs: z.number().int().nonnegative().nullable() }),
  },
  /** `docker image inspect` + `docker history`, as a layer stack with the layers other images share. */
  "image.layers": {
    params: z.object({ imageId: ZImageRefParam }),
    result: ZImageLayers,
  },
  /** `docker commit`: the container's file system as a new image. */
  "container.commit": {
    params: ZContainerCommitParams,
    result: z.object({ imageId: z.string().min(1).max(128) }),
  },
  /** `docker tag SOURCE REFERENCE`. */
  "image.tag": { params: z.object({ source: ZImageRefParam, reference: ZImageTargetRef }), result: z.object({}) },
  /** `docker rmi --no-prune REFERENCE` of one tag: other tags keep the image (its last tag takes it). */
  "image.untag": { params: z.object({ reference: ZImageTargetRef }), result: ZImageDeleteResult },
  /** `docker rmi [-f] IMAGE`; without force, an image a container uses is refused naming the containers. */
  "image.remove": { params: z.object({ imageId: ZImageRefParam, force: z.boolean().default(false) }), result: ZImageDeleteResult },
  /** What `image.prune` would remove (dangling: untagged; unused: any image no container uses) and the bytes it frees. */
  "image.prune.preview": { params: z.object({ mode: z.enum(IMAGE_PRUNE_MODES) }), result: ZImagePrunePreview },
  /** Removes exactly the previewed images that are still prunable; the others are reported as skipped. */
  "image.prune": {
    params: z.object({ mode: z.enum(IMAGE_PRUNE_MODES), ids: z.array(ZImageRefParam).min(1).max(IMAGE_PRUNE_MAX) }),
    result: ZImagePruneResult,
  },
  /**
   * Search over the whole log (or since/until) on the agent: Docker's log is
   * streamed through the matcher, never held; matches come back with context.
   * Bounded in matches, in answer size and in time (see agent/docker/log-search.ts).
   */
  "container.logs.search": {
    params: ZLogSearchParams,
    result: ZLogSearchResult,
  },
} as const satisfies Record<string, { params: z.ZodType; result: z.ZodType }>;

export type OperationType = keyof typeof operations;
export type OperationParams<T extends OperationType> = z.infer<(typeof operations)[T]["params"]>;
export type OperationResult<T extends OperationType> = z.infer<(typeof operations)[T]["result"]>;

export const ZOperationType = z.enum(Object.keys(operations) as [OperationType, ...OperationType[]]);

/** The request envelope. `params` is validated per type once the type is known. */
export const ZOperationRequest = z.object({
  requestId: z.string().min(1).max(64),
  type: z.string().min(1).max(64),
  params: z.unknown(),
});
export type TOperationRequest = z.infer<typeof ZOperationRequest>;

export const ZOperationErrorCode = z.enum([
  "BAD_REQUEST", // malformed frame or params
  "UNKNOWN_OPERATION",
  "DOCKER_ERROR", // Docker refused; message is Docker's own text
  "NOT_FOUND",
  "INTERNAL",
]);

export const ZOperationResponse = z.discriminatedUnion("ok", [
  z.object({ requestId: z.string(), ok: z.literal(true), result: z.unknown() }),
  z.object({
    requestId: z.string(),
    ok: z.literal(false),
    error: z.object({ code: ZOperationErrorCode, message: z.string().max(8192) }),
  }),
]);
export type TOperationResponse = z.infer<typeof ZOperationResponse>;

// ------------------------------------------------------------------ streams

/** Longer lines are passed on in pieces of this size: one runaway line must not blow a frame. */
export const LOG_LINE_MAX_CHARS = 16_384;
export const LOG_BATCH_MAX_LINES = 500;
/** A batch also stops at this many characters of text, so one frame stays far below the agent frame limit. */
export const LOG_BATCH_MAX_CHARS = 65_536;
/**
 * Flow control: a stream may have at most this many frames sent and not yet
 * acknowledged (`stream:ack`). When the window is full the agent pauses
 * Docker's stream, so a slow reader costs bounded memory at every hop.
 */
export const STREAM_WINDOW_FRAMES = 8;

/** A log line as Docker wrote it: which stream, Docker's own timestamp, the text without its newline. */
export const ZLogLine = z.object({
  stream: z.enum(["stdout", "stderr"]),
  /** RFC 3339 with nanoseconds, as Docker prints it; empty if Docker gave none. */
  ts: z.string().max(40),
  text: z.string().max(LOG_LINE_MAX_CHARS),
  /**
   * Set on a line Berth inserted (not written by the container): the container
   * started or exited at `ts`. `text` is the human wording, e.g. "container exited (code 3)".
   */
  marker: z
    .object({ event: z.enum(["started", "exited"]), exitCode: z.number().int().nullable() })
    .optional(),
});
export type TLogLine = z.infer<typeof ZLogLine>;

export const ZContainerLogsParams = ZContainerRef.extend({
  /** Lines from the end to start with; null = the whole log. */
  tail: z.number().int().min(0).max(100_000).nullable(),
  /** Only lines at or after this time. */
  since: ZIsoDate.nullable().default(null),
  /** Only lines before this time (Docker's `until`); a follow ends there. */
  until: ZIsoDate.nullable().default(null),
  follow: z.boolean(),
  /** Insert "container started" / "container exited (code N)" marker lines (off for downloads: Docker's log as is). */
  markers: z.boolean().default(false),
});
export type TContainerLogsParams = z.infer<typeof ZContainerLogsParams>;

/**
 * One second of a container's stats, reduced on the agent from Docker's stats
 * stream to what the charts draw. Counters (network, block I/O) are Docker's
 * running totals; the page derives rates from consecutive samples.
 */
export const ZStatsSample = z.object({
  /** Docker's `read` time of this sample. */
  at: ZIsoDate,
  /** CPU use in percent of ONE core (as `docker stats`: 200 = two cores busy); null for the first sample. */
  cpuPercent: z.number().nonnegative().nullable(),
  memUsage: z.number().int().nonnegative(),
  memLimit: z.number().int().nonnegative(),
  netRx: z.number().int().nonnegative(),
  netTx: z.number().int().nonnegative(),
  blkRead: z.number().int().nonnegative(),
  blkWrite: z.number().int().nonnegative(),
  pids: z.number().int().nonnegative(),
});
export type TStatsSample = z.infer<typeof ZStatsSample>;

// ------------------------------------------------------------------ terminals

/** A terminal output frame carries at most this many bytes (a flood is cut into frames this size). */
export const TERMINAL_CHUNK_MAX_BYTES = 65_536;
/** One input frame (a paste) carries at most this many characters. */
export const TERMINAL_INPUT_MAX_CHARS = 65_536;
const ZTerminalSize = z.object({ cols: z.number().int().min(2).max(1000), rows: z.number().int().min(1).max(500) });
export type TTerminalSize = z.infer<typeof ZTerminalSize>;

/** `docker exec -it`: a new process in a running container, with a TTY. */
export const ZContainerExecParams = ZContainerRef.extend({
  /** The command and its arguments, as exec's Cmd (no shell parsing on the agent). */
  cmd: z.array(z.string().min(1).max(4096)).min(1).max(64),
  /** `-u`: user[:group], name or id; empty = the image's user. */
  user: z.string().max(256).regex(/^[^\s\0]*$/, "no spaces").default(""),
  /** `-w`: empty = the image's working directory. */
  workingDir: z.string().max(4096).regex(/^(?:\/[^\0]*)?$/, "must be an absolute path").default(""),
  /** `-e KEY=value`, added to the container's own environment. */
  env: z.array(z.string().max(32_768).regex(/^[^=\0]+=[^\0]*$/, "KEY=value")).max(128).default([]),
}).extend(ZTerminalSize.shape);
export type TContainerExecParams = z.infer<typeof ZContainerExecParams>;

/** `docker attach`: the container's main process. Without `stdin` the terminal only watches. */
export const ZContainerAttachParams = ZContainerRef.extend({ stdin: z.boolean() }).extend(ZTerminalSize.shape);
export type TContainerAttachParams = z.infer<typeof ZContainerAttachParams>;

/**
 * A small output frame whose bytes are whole, valid UTF-8 may travel as their
 * text (`{ text }`), which the receiver encodes back to exactly those bytes.
 * Why: socket.io sends a binary payload as two WebSocket messages (the packet,
 * then the attachment), which costs a keystroke's echo a second write and read
 * on every hop; a text frame is one message. Larger frames stay binary.
 */
export const TERMINAL_TEXT_MAX_BYTES = 4096;

/** What a terminal sends: raw bytes (never decoded on the way: a UTF-8 character may straddle two frames), then how it ended. */
export const ZTerminalOutput = z.union([
  z.object({ bytes: z.instanceof(Uint8Array).refine((bytes) => bytes.byteLength <= TERMINAL_CHUNK_MAX_BYTES, "frame too large") }),
  // Parsed back into bytes: readers only ever see `bytes` (UTF-8 of n UTF-16 units is at most 3n bytes, within the frame size).
  z.object({ text: z.string().min(1).max(TERMINAL_TEXT_MAX_BYTES) }).transform(({ text }) => ({ bytes: new TextEncoder().encode(text) })),
  /** The process ended: its exit code when Docker knows it (last frame before the stream ends). */
  z.object({ exitCode: z.number().int().nullable() }),
]);
export type TTerminalOutput = z.infer<typeof ZTerminalOutput>;
/** A terminal frame as the agent sends it (before the receiver's parse turns `text` into `bytes`). */
export type TTerminalOutputWire = z.input<typeof ZTerminalOutput>;

/** What a terminal takes: keystrokes or a paste (xterm's onData), or its new size. */
export const ZTerminalInput = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("stdin"), data: z.string().min(1).max(TERMINAL_INPUT_MAX_CHARS) }),
  z.object({ kind: z.literal("resize") }).extend(ZTerminalSize.shape),
]);
export type TTerminalInput = z.infer<typeof ZTerminalInput>;

// ------------------------------------------------------------------ image pulls

/**
 * `docker pull`: the reference (checked by the server with Docker's rules) and,
 * for a registry the caller may use, its credentials for this pull only.
 */
export const ZImagePullParams = z.object({
  reference: z.string().min(1).max(512).regex(/^[^\s\0]+$/, "an image reference"),
  auth: z.object({ username: z.string().max(512), password: z.string().max(4096), serveraddress: z.string().max(512) }).nullable().default(null),
});
export type TImagePullParams = z.infer<typeof ZImagePullParams>;

/** The latest state of the layers that changed since the last frame (Docker's own wording), and the end. */
export const ZImagePullProgress = z.object({
  layers: z
    .array(
      z.object({
        /** Docker's short layer id. */
        id: z.string().max(64),
        /** "Pulling fs layer", "Downloading", "Extracting", "Pull complete", "Already exists", … */
        status: z.string().max(200),
        current: z.number().int().nonnegative().nullable(),
        total: z.number().int().nonnegative().nullable(),
      }),
    )
    .max(512),
  /** Lines about the whole pull ("Pulling from library/nginx", "Status: Downloaded newer image …"). */
  messages: z.array(z.string().max(200)).max(20),
  /** Last frame of a pull that succeeded: the image Docker now has under the reference. */
  done: z.object({ imageId: z.string().max(128).nullable(), digest: z.string().max(128).nullable() }).optional(),
});
export type TImagePullProgress = z.infer<typeof ZImagePullProgress>;

/** `docker push` of one tag; with `source`, `docker tag SOURCE REFERENCE` first. Progress frames as pulls (Docker's push wording). */
export const ZImagePushParams = ZImagePullParams.extend({ source: ZImageRefParam.nullable().default(null) });
export type TImagePushParams = z.infer<typeof ZImagePushParams>;
// ------------------------------------------------------------------ image builds

/** One context chunk (server → agent input frame): half the 1 MiB frame a relaying replica accepts. */
export const BUILD_CONTEXT_CHUNK_MAX_BYTES = 512 * 1024;
/**
 * Context chunks the server may have sent beyond the bytes the agent confirmed
 * (its `context` frames, sent once Docker's request took them): bounds what
 * waits on the agent and the server whatever the context's size.
 */
export const BUILD_CONTEXT_WINDOW_CHUNKS = 8;
/** The largest context any agent accepts (the server's own limit, BERTH_BUILD_CONTEXT_MAX_MB, is lower). */
export const BUILD_CONTEXT_HARD_MAX_BYTES = 8 * 1024 * 1024 * 1024;
export const BUILD_ARGS_MAX = 64;
export const BUILD_OUTPUT_BATCH_MAX_LINES = 200;

const ZBuildKey = z.string().min(1).max(256).regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, "letters, digits, _ . - (not starting with a digit)");
/** A tag Docker may build: a name with an optional tag, no digest (Docker's reference rules). */
export const ZBuildTag = z
  .string()
  .min(1)
  .max(512)
  .superRefine((value, ctx) => {
    const parsed = parseImageReference(value);
    if (!parsed.ok) ctx.addIssue({ code: "custom", message: parsed.error.message });
    else if (parsed.reference.digest) ctx.addIssue({ code: "custom", message: `"${value}": a build is tagged with a name and tag, not a digest` });
  });

/** `docker build`: the context arrives as input frames (a tar, `contextBytes` long) after the stream opened. */
export const ZImageBuildParams = z.object({
  tags: z.array(ZBuildTag).min(1).max(16),
  /** The Dockerfile's path inside the context. */
  dockerfile: z
    .string()
    .min(1)
    .max(1024)
    .regex(/^(?!\/)(?!.*(?:^|\/)\.\.(?:\/|$))[^\0]+$/, "a relative path inside the context")
    .default("Dockerfile"),
  buildArgs: z.record(ZBuildKey, z.string().max(32_768)).refine((args) => Object.keys(args).length <= BUILD_ARGS_MAX, `at most ${BUILD_ARGS_MAX} build args`).default({}),
  /** `--target`: the stage to stop at (empty = the last). */
  target: z.string().max(128).regex(/^[A-Za-z0-9._-]*$/, "a stage name").default(""),
  noCache: z.boolean().default(false),
  /** `--pull`: always try to pull newer base images. */
  pull: z.boolean().default(false),
  labels: z.record(z.string().min(1).max(256), z.string().max(4096)).refine((labels) => Object.keys(labels).length <= 64, "at most 64 labels").default({}),
  /** The context's exact size: the agent refuses more, and an end before it. */
  contextBytes: z.number().int().positive().max(BUILD_CONTEXT_HARD_MAX_BYTES),
  /** Credentials for base images' registries (Docker's X-Registry-Config), for this build only. */
  registryConfig: z
    .record(z.string().min(1).max(512), z.object({ username: z.string().max(512), password: z.string().max(4096) }))
    .refine((config) => Object.keys(config).length <= 64, "at most 64 registries")
    .nullable()
    .default(null),
});
export type TImageBuildParams = z.infer<typeof ZImageBuildParams>;

/** The context, in order, then its end. */
export const ZImageBuildInput = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("context"), bytes: z.instanceof(Uint8Array).refine((bytes) => bytes.byteLength > 0 && bytes.byteLength <= BUILD_CONTEXT_CHUNK_MAX_BYTES, "chunk size") }),
  z.object({ kind: z.literal("end") }),
]);
export type TImageBuildInput = z.infer<typeof ZImageBuildInput>;

/** A step as Docker numbers it: `Step 3/7 : RUN make`. */
export const ZBuildStep = z.object({ number: z.number().int().positive(), total: z.number().int().positive(), instruction: z.string().max(LOG_LINE_MAX_CHARS) });
export type TBuildStep = z.infer<typeof ZBuildStep>;
/** One line of Docker's build output: a step heading, what the step printed, or Docker's error. */
export const ZBuildLine = z.object({
  kind: z.enum(["step", "text", "error"]),
  text: z.string().max(LOG_LINE_MAX_CHARS),
  /** The step this line belongs to (the heading's own, for a step line); null before the first. */
  step: z.number().int().positive().nullable(),
});
export type TBuildLine = z.infer<typeof ZBuildLine>;

export const ZImageBuildOutput = z.discriminatedUnion("kind", [
  /** Bytes of the context Docker's request took so far (the server sends more as these arrive). */
  z.object({ kind: z.literal("context"), received: z.number().int().nonnegative() }),
  z.object({ kind: z.literal("output"), lines: z.array(ZBuildLine).min(1).max(BUILD_OUTPUT_BATCH_MAX_LINES) }),
  /** Last frame: the image built, or Docker's error and the step that failed (null: before any step). */
  z.object({
    kind: z.literal("done"),
    imageId: z.string().max(128).nullable(),
    error: z.object({ message: z.string().max(8192), step: ZBuildStep.nullable() }).nullable(),
  }),
]);
export type TImageBuildOutput = z.infer<typeof ZImageBuildOutput>;

/**
 * Every stream the server may open on an agent: its params, the schema of
 * each data frame and, for two-way streams, of each input frame. Like
 * operations, anything not listed is refused.
 */
export const streams = {
  "container.logs": {
    params: ZContainerLogsParams,
    data: z.object({ lines: z.array(ZLogLine).max(LOG_BATCH_MAX_LINES) }),
  },
  /** Docker's stats stream of one container, one reduced sample per second; ends when the container stops. */
  "container.stats": {
    params: ZContainerRef,
    data: ZStatsSample,
  },
  /** The host's totals: the sum of its running containers' latest samples, once a second (bounded, see agent/docker/stats.ts). */
  "host.stats": {
    params: z.object({}),
    data: ZStatsSample.extend({ containers: z.number().int().nonnegative() }),
  },
  /** An interactive exec session with a TTY; output is flow-controlled like logs. */
  "container.exec": {
    params: ZContainerExecParams,
    data: ZTerminalOutput,
    input: ZTerminalInput,
  },
  /** `docker pull` with per-layer progress, a frame every 100 ms at most; closing it cancels the pull. */
  "image.pull": {
    params: ZImagePullParams,
    data: ZImagePullProgress,
  },
  /** `docker push` with per-layer progress ("Preparing", "Pushing", "Pushed", "Layer already exists"); closing it cancels the push. */
  "image.push": {
    params: ZImagePushParams,
    data: ZImagePullProgress,
  },
  /** `docker build` (classic builder): the context comes in as input, Docker's output goes out step by step; closing it aborts the build. */
  "image.build": {
    params: ZImageBuildParams,
    data: ZImageBuildOutput,
    input: ZImageBuildInput,
  },
  /** Attached to the container's main process (its TTY, or its demultiplexed stdout/stderr). */
  "container.attach": {
    params: ZContainerAttachParams,
    data: ZTerminalOutput,
    input: ZTerminalInput,
  },
} as const satisfies Record<string, { params: z.ZodType; data: z.ZodType; input?: z.ZodType }>;

/** The streams that take input frames (terminals). */
export type InputStreamType = { [T in keyof typeof streams]: (typeof streams)[T] extends { input: z.ZodType } ? T : never }[keyof typeof streams];
export type StreamInput<T extends InputStreamType> = z.infer<(typeof streams)[T]["input"]>;
export function streamInputSchema(type: string): z.ZodType | null {
  if (!Object.hasOwn(streams, type)) return null;
  const entry = streams[type as keyof typeof streams] as { input?: z.ZodType };
  return entry.input ?? null;
}

export type StreamType = keyof typeof streams;
export type StreamParams<T extends StreamType> = z.infer<(typeof streams)[T]["params"]>;
export type StreamData<T extends StreamType> = z.infer<(typeof streams)[T]["data"]>;
/** A data frame as the agent emits it (what `data`'s schema takes: for terminals, `text` or `bytes`). */
export type StreamWireData<T extends StreamType> = z.input<(typeof streams)[T]["data"]>;

const ZStreamId = z.string().min(1).max(64);

export const ZStreamOpen = z.object({ streamId: ZStreamId, type: z.string().min(1).max(64), params: z.unknown() });
export type TStreamOpen = z.infer<typeof ZStreamOpen>;
export const ZStreamCancel = z.object({ streamId: ZStreamId });
/** Every frame up to `seq` reached its reader: the window moves on. */
export const ZStreamAck = z.object({ streamId: ZStreamId, seq: z.number().int().nonnegative() });
export type TStreamAck = z.infer<typeof ZStreamAck>;
/** Input for a two-way stream; `data` is checked against the stream type's `input` schema. */
export const ZStreamInput = z.object({ streamId: ZStreamId, data: z.unknown() });
export type TStreamInput = z.infer<typeof ZStreamInput>;
/** `seq` counts frames from 1 so a gap or reordering is detectable. */
export const ZStreamData = z.object({ streamId: ZStreamId, seq: z.number().int().positive(), data: z.unknown() });
export type TStreamData = z.infer<typeof ZStreamData>;
export const ZStreamEnd = z.object({
  streamId: ZStreamId,
  error: z.object({ code: ZOperationErrorCode, message: z.string().max(8192) }).nullable(),
});
export type TStreamEnd = z.infer<typeof ZStreamEnd>;
/** The agent's answer to stream:open: it started, or why not. */
export const ZStreamOpenResult = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true) }),
  z.object({ ok: z.literal(false), error: z.object({ code: ZOperationErrorCode, message: z.string().max(8192) }) }),
]);
export type TStreamOpenResult = z.infer<typeof ZStreamOpenResult>;

export const ZProtocolError = z.object({
  event: z.string().max(64),
  message: z.string().max(2048),
});
export type TProtocolError = z.infer<typeof ZProtocolError>;

/** Short, readable summary of a zod failure for error frames and logs. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.join(".") || "(root)"}: ${issue.message}`)
    .join("; ");
}
