/**
 * Tag, untag, remove and prune images on a host, through its agent (Docker's
 * semantics and words; see agent/docker/image-manage.ts). References are
 * checked by Docker's rules here first, so a bad one is refused before any
 * agent is asked. A prune executes a preview: the page passes the ids it
 * showed, the agent removes those still prunable and reports the rest; the
 * prune is audited here with what it removed and the bytes it freed.
 */
import type { TImagePruneMode } from "../../agent/protocol.ts";
import { auditActor } from "../auth/guard.ts";
import type { Db } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";
import type { Principal } from "./access.ts";
import type { AgentLink } from "./agent-link.ts";
import { appendAuditEvent, assertAuditWritable, type AuditRequestMeta } from "./audit/append.ts";
import { imageAndTagOwner, parseTagReference } from "./image-push.ts";

/** Listing every image and its history can take a while on a host with many images. */
const PRUNE_TIMEOUT_MS = 120_000;

export async function tagImage(opts: { db: Db; link: AgentLink; hostId: string; imageId: string; reference: string }) {
  const reference = parseTagReference(opts.reference);
  const { image, movesTagFrom } = await imageAndTagOwner(opts.db, opts.hostId, opts.imageId, reference.familiar);
  await opts.link.request(opts.hostId, "image.tag", { source: image.dockerId, reference: reference.familiar }, { timeoutMs: 30_000 });
  return { reference: reference.familiar, movedFrom: movesTagFrom };
}

export async function untagImage(opts: { link: AgentLink; hostId: string; reference: string }) {
  const reference = parseTagReference(opts.reference);
  return opts.link.request(opts.hostId, "image.untag", { reference: reference.familiar }, { timeoutMs: 60_000 });
}

export async function removeImage(opts: { link: AgentLink; hostId: string; imageId: string; force: boolean }) {
  return opts.link.request(opts.hostId, "image.remove", { imageId: opts.imageId, force: opts.force }, { timeoutMs: 60_000 });
}

export async function previewImagePrune(opts: { link: AgentLink; hostId: string; mode: TImagePruneMode }) {
  return opts.link.request(opts.hostId, "image.prune.preview", { mode: opts.mode }, { timeoutMs: PRUNE_TIMEOUT_MS });
}

export async function pruneImages(opts: {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  principal: Principal;
  request: AuditRequestMeta;
  hostId: string;
  mode: TImagePruneMode;
  ids: string[];
}) {
  // Audited here (with the count and bytes), not by the middleware: refuse to act without a writable trail.
  await assertAuditWritable(opts.db);
  const host = await opts.db.host.findUnique({ where: { id: opts.hostId }, select: { name: true } });
  const record = (outcome: "SUCCESS" | "FAILURE", details: Record<string, unknown>, error: string | null) =>
    appendAuditEvent({
      db: opts.db,
      bus: opts.bus,
      event: {
        actor: auditActor(opts.principal),
        action: "images.prune",
        outcome,
        hostId: opts.hostId,
        hostName: host?.name ?? null,
        target: `hostId:${opts.hostId}`,
        targetName: null,
        params: { hostId: opts.hostId, mode: opts.mode, requested: opts.ids.length, ...details },
        error,
        request: opts.request,
      },
    });
  try {
    const result = await opts.link.request(opts.hostId, "image.prune", { mode: opts.mode, ids: opts.ids }, { timeoutMs: PRUNE_TIMEOUT_MS });
    await record(
      "SUCCESS",
      { removed: result.removed.length, skipped: result.skipped.length, reclaimedBytes: result.reclaimedBytes, removedIds: result.removed.slice(0, 200).map((r) => r.id) },
      null,
    );
    return result;
  } catch (error) {
    await record("FAILURE", {}, error instanceof Error ? error.message : String(error));
    throw error;
  }
}
