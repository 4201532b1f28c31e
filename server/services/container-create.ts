/**
 * Creating containers: create from a spec, duplicate ("another like this"),
 * recreate with changed settings (rolls back to the old container when the new
 * one does not come up), and the per-host list of host paths containers may
 * bind-mount.
 *
 * The checks live here, never in the browser: root-equivalent options need
 * `container.privileged` on the host, and a bind mount outside the host's
 * allowed paths is refused for everyone. The agent re-validates the spec with
 * the same zod schema before Docker sees it.
 */
import path from "node:path";
import { z } from "zod";
import { hostPathsOf, privilegedOptionsOf } from "../../agent/docker/create-spec.ts";
import type { TContainerCreateSpec } from "../../agent/protocol.ts";
import { MASK, maskEnv, maskSecretMap } from "../../agent/redaction.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { permissionsOnHost, type Principal } from "./access.ts";
import type { AgentLink } from "./agent-link.ts";

/** Docker can take a while on a busy host (image layers, network setup); a create is still one request. */
const CREATE_TIMEOUT_MS = 120_000;
/** Recreate stops the old container (up to its stop timeout), creates, starts and watches the new one. */
const RECREATE_TIMEOUT_MS = 240_000;

export const ZBindPath = z
  .string()
  .trim()
  .min(1)
  .max(4096)
  .startsWith("/", "An allowed path is absolute (starts with /)")
  .refine((p) => !p.split("/").includes(".."), "An allowed path has no .. in it");
export const ZAllowedBindPaths = z.array(ZBindPath).max(64);

/** `/srv/data/` → `/srv/data`; `/` stays `/`. */
function normalize(p: string): string {
  const n = path.posix.normalize(p);
  return n.length > 1 ? n.replace(/\/+$/, "") : n;
}

/** Whether `hostPath` is one of `allowed` or inside one of them (by path segments, not string prefix). */
export function isBindAllowed(hostPath: string, allowed: readonly string[]): boolean {
  if (!hostPath.startsWith("/") || hostPath.split("/").includes("..")) return false;
  const p = normalize(hostPath);
  return allowed.some((a) => {
    const base = normalize(a);
    return base === "/" || p === base || p.startsWith(`${base}/`);
  });
}

export async function setAllowedBindPaths(opts: { db: Db; bus: EventBus; hostId: string; paths: string[] }) {
  const paths = [...new Set(opts.paths.map(normalize))].sort();
  const updated = await opts.db.host.updateMany({ where: { id: opts.hostId }, data: { allowedBindPaths: paths } });
  if (updated.count === 0) throw new AppError("NOT_FOUND", "Host not found");
  opts.bus.publish({ type: "host.changed", hostId: opts.hostId });
  return { allowedBindPaths: paths };
}

/** Refuses what the caller may not ask of this host. Order matters: the permission first, then the host's own limit. */
async function authorizeSpec(db: Db, principal: Principal, hostId: string, spec: TContainerCreateSpec): Promise<void> {
  const privileged = privilegedOptionsOf(spec);
  if (privileged.length) {
    const granted = await permissionsOnHost(db, principal, hostId);
    if (!granted.has("container.privileged")) {
      throw new AppError(
        "FORBIDDEN",
        `These options give the container root-equivalent access to the host and need the "container.privileged" permission: ${privileged.join("; ")}`,
      );
    }
  }
  const binds = hostPathsOf(spec);
  if (binds.length) {
    const host = await db.host.findUnique({ where: { id: hostId }, select: { allowedBindPaths: true } });
    const allowed = host?.allowedBindPaths ?? [];
    const outside = binds.filter((b) => !isBindAllowed(b, allowed));
    if (outside.length) {
      throw new AppError(
        "FORBIDDEN",
        `Bind mount of ${outside.map((p) => p || "(no source)").join(", ")} refused: ${
          allowed.length ? `this host allows bind mounts only under ${allowed.join(", ")}` : "this host allows no bind mounts"
        }. A host manager can change the allowed paths in the host's settings; named volumes need no permission.`,
      );
    }
  }
}

async function assertKnown(db: Db, hostId: string, containerId: string): Promise<void> {
  const known = await db.container.findUnique({ where: { hostId_dockerId: { hostId, dockerId: containerId } }, select: { dockerId: true } });
  if (!known) throw new AppError("NOT_FOUND", "Container not found on this host");
}

export async function createContainer(opts: { db: Db; link: AgentLink; principal: Principal; hostId: string; spec: TContainerCreateSpec }) {
  await authorizeSpec(opts.db, opts.principal, opts.hostId, opts.spec);
  const result = await opts.link.request(opts.hostId, "container.create", { spec: opts.spec }, { timeoutMs: CREATE_TIMEOUT_MS });
  return { id: result.id };
}

/**
 * The spec of an existing container as a person may see it (the form's
 * "edit & recreate"): environment values and secret-looking labels and log
 * options masked. Sent back unchanged, a masked value means "keep the current
 * one" (see `unmask`).
 */
export async function containerSpecForEdit(opts: { db: Db; link: AgentLink; hostId: string; containerId: string }) {
  await assertKnown(opts.db, opts.hostId, opts.containerId);
  const { spec, name, state } = await opts.link.request(opts.hostId, "container.spec", { containerId: opts.containerId });
  return {
    name,
    state,
    spec: { ...spec, env: maskEnv(spec.env), labels: maskSecretMap(spec.labels) as Record<string, string>, logOptions: maskSecretMap(spec.logOptions) as Record<string, string> },
  };
}

/** Puts the current values back where the edited spec still carries the mask. */
function unmask(edited: TContainerCreateSpec, current: TContainerCreateSpec): TContainerCreateSpec {
  const currentEnv = new Map(current.env.map((e) => [e.split("=", 1)[0]!, e]));
  const env = edited.env.map((e) => {
    const name = e.split("=", 1)[0]!;
    return e === `${name}=${MASK}` && currentEnv.has(name) ? currentEnv.get(name)! : e;
  });
  const restore = (edit: Record<string, string>, cur: Record<string, string>) =>
    Object.fromEntries(Object.entries(edit).map(([k, v]) => [k, v === MASK && k in cur ? cur[k]! : v]));
  return { ...edited, env, labels: restore(edited.labels, current.labels), logOptions: restore(edited.logOptions, current.logOptions) };
}

/**
 * Another container like this one: the same spec under a new name (Docker
 * picks one when none is given). Published host ports become random ones, so
 * the copy can run beside the original instead of failing on "port is already
 * allocated".
 */
export async function duplicateContainer(opts: { db: Db; link: AgentLink; principal: Principal; hostId: string; containerId: string; name?: string }) {
  await assertKnown(opts.db, opts.hostId, opts.containerId);
  const { spec } = await opts.link.request(opts.hostId, "container.spec", { containerId: opts.containerId });
  const copy: TContainerCreateSpec = {
    ...spec,
    name: opts.name,
    ports: spec.ports.map((p) => ({ ...p, hostPort: "" })),
    // A hostname set by hand is kept; the networks' aliases would answer for two containers, so they go.
    networks: spec.networks.map((n) => ({ name: n.name, aliases: [] })),
    start: spec.start,
  };
  return createContainer({ ...opts, spec: copy });
}

/**
 * Recreate with changed settings. The old container is renamed aside until
 * the new one runs (and is healthy, when it has a healthcheck); if the new
 * one fails, it is removed and the old one gets its name back and runs again —
 * and the caller gets the reason as an error.
 */
export async function recreateContainer(opts: {
  db: Db;
  link: AgentLink;
  principal: Principal;
  hostId: string;
  containerId: string;
  spec: TContainerCreateSpec;
  watchMs?: number;
}) {
  await assertKnown(opts.db, opts.hostId, opts.containerId);
  const current = await opts.link.request(opts.hostId, "container.spec", { containerId: opts.containerId });
  const spec = unmask({ ...opts.spec, name: current.name }, current.spec);
  await authorizeSpec(opts.db, opts.principal, opts.hostId, spec);
  const result = await opts.link.request(
    opts.hostId,
    "container.recreate",
    { containerId: opts.containerId, spec, watchMs: opts.watchMs ?? 3_000 },
    { timeoutMs: RECREATE_TIMEOUT_MS },
  );
  if (result.outcome === "rolledBack") {
    throw new AppError("DOCKER_ERROR", `${result.reason}. Rolled back: the old container has its name back and is as it was.`);
  }
  return { id: result.id };
}
