/**
 * Lifecycle actions on one container (start … remove, `docker update`), and
 * the same actions on a selection spanning hosts (`runBulkAction`). Each
 * action is one typed agent operation; Docker's own error text is what the
 * caller sees. Inventory rows are never written here: the Docker event the
 * action causes updates the mirror.
 */
import { z } from "zod";
import {
  ZContainerName,
  ZContainerUpdate,
  ZSignal,
  type OperationParams,
  type OperationType,
} from "../../agent/protocol.ts";
import { decideAccess, namesForAttempt, recordAttempt, type AttemptContext } from "../auth/guard.ts";
import type { Permission } from "../auth/permissions.ts";
import type { Db } from "../db/client.ts";
import { AppError, isAppError } from "../errors.ts";
import { createLogger } from "../logger.ts";
import type { AgentLink } from "./agent-link.ts";

const log = createLogger("container-lifecycle");

const ZTimeout = z.number().int().min(0).max(600).optional();

/** One lifecycle action with its options, as the procedures and the bulk action take it. */
export const ZLifecycleAction = z.discriminatedUnion("action", [
  z.object({ action: z.literal("start") }),
  z.object({ action: z.literal("stop"), timeoutSeconds: ZTimeout }),
  z.object({ action: z.literal("restart"), timeoutSeconds: ZTimeout }),
  z.object({ action: z.literal("kill"), signal: ZSignal.default("SIGKILL") }),
  z.object({ action: z.literal("pause") }),
  z.object({ action: z.literal("unpause") }),
  z.object({ action: z.literal("rename"), name: ZContainerName }),
  z.object({ action: z.literal("remove"), force: z.boolean().default(false), removeVolumes: z.boolean().default(false) }),
  z.object({ action: z.literal("update"), changes: ZContainerUpdate }),
]);
export type TLifecycleAction = z.infer<typeof ZLifecycleAction>;
export type LifecycleActionName = TLifecycleAction["action"];

/**
 * The permission each action needs on the container's host. Running what
 * exists is operating it; removing it, or changing its resource limits and
 * restart policy (the settings `docker run` chose), is the creator's right.
 */
export const LIFECYCLE_PERMISSION: Record<LifecycleActionName, Permission> = {
  start: "container.operate",
  stop: "container.operate",
  restart: "container.operate",
  kill: "container.operate",
  pause: "container.operate",
  unpause: "container.operate",
  rename: "container.operate",
  remove: "container.create",
  update: "container.create",
};

/** Actions offered on a selection (rename and update are per container). */
export const BULK_ACTIONS = ["start", "stop", "restart", "kill", "pause", "unpause", "remove"] as const;
export type BulkActionName = (typeof BULK_ACTIONS)[number];

function toOperation(containerId: string, request: TLifecycleAction): { type: OperationType; params: OperationParams<OperationType>; timeoutMs: number } {
  switch (request.action) {
    case "stop":
    case "restart":
      // Docker waits up to the timeout (10 s by default) before SIGKILL; allow for that plus slack.
      return { type: `container.${request.action}`, params: { containerId, timeoutSeconds: request.timeoutSeconds }, timeoutMs: ((request.timeoutSeconds ?? 10) + 50) * 1000 };
    case "kill":
      return { type: "container.kill", params: { containerId, signal: request.signal }, timeoutMs: 60_000 };
    case "rename":
      return { type: "container.rename", params: { containerId, name: request.name }, timeoutMs: 60_000 };
    case "remove":
      // A forced removal stops the container first (SIGKILL), then deletes its layer: can take a while on a busy host.
      return { type: "container.remove", params: { containerId, force: request.force, removeVolumes: request.removeVolumes }, timeoutMs: 60_000 };
    case "update":
      if (Object.values(request.changes).every((v) => v === undefined)) throw new AppError("BAD_REQUEST", "Nothing to update: give at least one limit or a restart policy");
      return { type: "container.update", params: { containerId, ...request.changes }, timeoutMs: 60_000 };
    default:
      return { type: `container.${request.action}`, params: { containerId }, timeoutMs: 60_000 };
  }
}

/** Runs one action on one container through its host's agent; Docker's refusal comes back as a DOCKER_ERROR with Docker's text. */
export async function runLifecycleAction(opts: { db: Db; link: AgentLink; hostId: string; containerId: string; request: TLifecycleAction }) {
  const { db, link, hostId, containerId, request } = opts;
  const known = await db.container.findUnique({ where: { hostId_dockerId: { hostId, dockerId: containerId } }, select: { dockerId: true } });
  if (!known) throw new AppError("NOT_FOUND", "Container not found on this host");
  const op = toOperation(containerId, request);
  const result = await link.request(hostId, op.type, op.params, { timeoutMs: op.timeoutMs });
  return { warnings: (result as { warnings?: string[] }).warnings ?? [] };
}

export const BULK_MAX_ITEMS = 200;
/** Actions in flight at once across the selection: keeps one bulk call from flooding a host's dockerd. */
const BULK_CONCURRENCY = 6;

export type BulkItem = { hostId: string; containerId: string };
export type BulkItemResult = BulkItem & { ok: true } | (BulkItem & { ok: false; code: string; message: string });

/**
 * One action on a selection that may span hosts. Each item is authorized on
 * its own host with the same decision as a single call (`decideAccess`, host
 * rule for the action's permission): an item on a host the caller may not act
 * on is never touched and answers FORBIDDEN, while the others proceed — a
 * fleet-wide selection is not held hostage by one host. Every item gets its
 * own audit row under the single action's name (DENIED, SUCCESS or FAILURE
 * with Docker's text), so the trail reads the same as one-by-one clicks.
 */
export async function runBulkAction(opts: {
  ctx: AttemptContext & { link: AgentLink };
  items: BulkItem[];
  request: Extract<TLifecycleAction, { action: BulkActionName }>;
}): Promise<BulkItemResult[]> {
  const { ctx, items, request } = opts;
  const rule = { scope: "host", permission: LIFECYCLE_PERMISSION[request.action] } as const;
  const decisions = new Map<string, Awaited<ReturnType<typeof decideAccess>>>();
  for (const hostId of new Set(items.map((i) => i.hostId))) decisions.set(hostId, await decideAccess(ctx.db, ctx.principal, rule, { hostId }));

  const results: BulkItemResult[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      const item = items[index]!;
      const auditInput = { hostId: item.hostId, containerId: item.containerId, ...request, bulk: true };
      const action = `containers.${request.action}`;
      const decision = decisions.get(item.hostId)!;
      if (!decision.ok) {
        await recordAttempt(ctx, action, auditInput, "DENIED", decision.message, "could not record a denied bulk item");
        results[index] = { ...item, ok: false, code: decision.code, message: decision.message };
        continue;
      }
      const names = await namesForAttempt(ctx, auditInput);
      try {
        await runLifecycleAction({ db: ctx.db, link: ctx.link, hostId: item.hostId, containerId: item.containerId, request });
        results[index] = { ...item, ok: true };
        await recordAttempt(ctx, action, auditInput, "SUCCESS", null, "AUDIT WRITE FAILED after a bulk item ran", names);
      } catch (error) {
        if (!isAppError(error)) log.error("bulk item failed unexpectedly", { action, hostId: item.hostId, containerId: item.containerId, error: String(error) });
        const code = isAppError(error) ? error.code : "INTERNAL";
        const message = isAppError(error) ? error.message : "Something went wrong on the server";
        results[index] = { ...item, ok: false, code, message };
        await recordAttempt(ctx, action, auditInput, "FAILURE", message, "AUDIT WRITE FAILED after a bulk item failed", names);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(BULK_CONCURRENCY, items.length) }, worker));
  return results;
}
