/** Display helpers shared by the fleet and host views. Pure functions, no React. */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** 1536 → "1.5 KiB". Accepts the BigInt sizes superjson delivers. */
export function formatBytes(value: number | bigint | null | undefined): string {
  if (value === null || value === undefined) return "—";
  let n = Number(value);
  let unit = 0;
  while (n >= 1024 && unit < BYTE_UNITS.length - 1) {
    n /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || n >= 100 ? 0 : n >= 10 ? 1 : 2;
  return `${n.toFixed(digits)} ${BYTE_UNITS[unit]}`;
}

/** "just now", "42s ago", "5m ago", "3h ago", "12d ago"; future times read "in 5m". */
export function formatRelative(date: Date | null | undefined, now: number): string {
  if (!date) return "never";
  const deltaSeconds = Math.round((now - date.getTime()) / 1000);
  const future = deltaSeconds < 0;
  const s = Math.abs(deltaSeconds);
  if (s < 5) return "just now";
  const text =
    s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86_400 ? `${Math.floor(s / 3600)}h` : s < 86_400 * 60 ? `${Math.floor(s / 86_400)}d` : s < 86_400 * 730 ? `${Math.floor(s / (86_400 * 30))}mo` : `${Math.floor(s / (86_400 * 365))}y`;
  return future ? `in ${text}` : `${text} ago`;
}

/** Absolute timestamp for tooltips. */
export function formatDateTime(date: Date | null | undefined): string {
  if (!date) return "";
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

export type PortMapping = { ip?: string; privatePort: number; publicPort?: number; type: string };

/** Docker's port list arrives as JSON; anything malformed is skipped, not trusted. */
export function parsePorts(value: unknown): PortMapping[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((p): PortMapping[] => {
    if (typeof p !== "object" || p === null) return [];
    const { ip, privatePort, publicPort, type } = p as Record<string, unknown>;
    if (typeof privatePort !== "number" || typeof type !== "string") return [];
    return [
      {
        ...(typeof ip === "string" ? { ip } : {}),
        privatePort,
        ...(typeof publicPort === "number" ? { publicPort } : {}),
        type,
      },
    ];
  });
}

/**
 * "0.0.0.0:8080→80/tcp" like `docker ps`. The IPv6 twin of an IPv4 binding
 * ("[::]:8080→80/tcp") is folded into it to keep the column short.
 */
export function formatPorts(ports: PortMapping[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const isV6 = (p: PortMapping) => (p.ip?.includes(":") ? 1 : 0);
  const sorted = [...ports].sort((a, b) => a.privatePort - b.privatePort || isV6(a) - isV6(b));
  for (const p of sorted) {
    const key = `${p.publicPort ?? ""}:${p.privatePort}/${p.type}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (p.publicPort === undefined) {
      out.push(`${p.privatePort}/${p.type}`);
    } else {
      const ip = p.ip === undefined || p.ip === "" ? "" : p.ip.includes(":") ? `[${p.ip}]:` : `${p.ip}:`;
      out.push(`${ip}${p.publicPort}→${p.privatePort}/${p.type}`);
    }
  }
  return out;
}

/** "sha256:14749e4851d8…" → "14749e4851d8". */
export function shortId(id: string): string {
  return id.replace(/^sha256:/, "").slice(0, 12);
}

/** Image references to show: its tags, or "<none>" plus its short id. */
export function imageReferences(image: { repoTags: string[]; dockerId: string }): string[] {
  return image.repoTags.length > 0 ? image.repoTags : [`<none> ${shortId(image.dockerId)}`];
}

/** Docker's wording for a span of time ("About a minute", "3 hours"), as in `docker ps`. */
export function humanDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 1) return "Less than a second";
  if (s === 1) return "1 second";
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return "About a minute";
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return "About an hour";
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

export type ContainerStatusInput = {
  state: string;
  health: string | null;
  exitCode: number | null;
  startedAt: Date | null;
  finishedAt: Date | null;
};

const HEALTH_SUFFIX: Record<string, string> = { healthy: " (healthy)", unhealthy: " (unhealthy)", starting: " (health: starting)" };

/**
 * The `docker ps` status line, derived from state and timestamps against
 * `now` (so it keeps ticking and is never a string frozen at the last sync),
 * worded as Docker words it. `now` 0 (server render) gives the state alone.
 */
export function containerStatus(c: ContainerStatusInput, now: number): string {
  const since = (date: Date | null) => (date ? humanDuration(now - date.getTime()) : "");
  const health = c.health ? (HEALTH_SUFFIX[c.health] ?? "") : "";
  switch (c.state) {
    case "running":
      return now === 0 || !c.startedAt ? `Up${health}` : `Up ${since(c.startedAt)}${health}`;
    case "paused":
      return now === 0 || !c.startedAt ? "Up (Paused)" : `Up ${since(c.startedAt)} (Paused)`;
    case "restarting":
      return now === 0 || !c.finishedAt ? `Restarting (${c.exitCode ?? 0})` : `Restarting (${c.exitCode ?? 0}) ${since(c.finishedAt)} ago`;
    case "exited":
      return now === 0 || !c.finishedAt ? `Exited (${c.exitCode ?? 0})` : `Exited (${c.exitCode ?? 0}) ${since(c.finishedAt)} ago`;
    case "created":
      return "Created";
    case "removing":
      return "Removal In Progress";
    case "dead":
      return "Dead";
    default:
      return c.state;
  }
}

/** Exit codes of an ordinary stop (SIGTERM, Ctrl-C) are not failures. */
export function isFailedExit(state: string, exitCode: number | null): boolean {
  return state === "exited" && exitCode !== null && exitCode !== 0 && exitCode !== 130 && exitCode !== 143;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

const BROWSERS: Array<[RegExp, string]> = [
  [/Edg\/(\d+)/, "Edge"],
  [/HeadlessChrome\/(\d+)/, "Headless Chrome"],
  [/(?:Chromium|Chrome)\/(\d+)/, "Chrome"],
  [/Firefox\/(\d+)/, "Firefox"],
  [/Version\/(\d+).*Safari/, "Safari"],
  [/^curl\/([\d.]+)/, "curl"],
];
const SYSTEMS: Array<[RegExp, string]> = [
  [/Windows/, "Windows"],
  [/Mac OS X|Macintosh/, "macOS"],
  [/Android/, "Android"],
  [/iPhone|iPad/, "iOS"],
  [/Linux/, "Linux"],
];

/** "Chrome 131 on Linux" from a user-agent string; callers keep the raw string for a tooltip. */
export function describeUserAgent(ua: string | null | undefined): string {
  if (!ua) return "Unknown client";
  let browser = ua.split(/[\s/]/)[0] || "Unknown client";
  for (const [pattern, name] of BROWSERS) {
    const match = pattern.exec(ua);
    if (match) {
      browser = `${name} ${match[1]}`;
      break;
    }
  }
  const os = SYSTEMS.find(([pattern]) => pattern.test(ua))?.[1];
  return os ? `${browser} on ${os}` : browser;
}
