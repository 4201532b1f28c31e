/**
 * What the container page reads live from the host's agent (never stored):
 * its processes (`docker top`), its writable layer (`docker diff`, sizes) and
 * committing that layer to a new image (`docker commit`).
 *
 * Every call is for a container the mirror knows on that host; the agent
 * answers with Docker's own data or Docker's own error text.
 */
import type { OperationResult, TContainerCommitParams } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink } from "./agent-link.ts";

type Target = { db: Db; link: AgentLink; hostId: string; containerId: string };

async function assertKnown(db: Db, hostId: string, containerId: string) {
  const known = await db.container.findUnique({ where: { hostId_dockerId: { hostId, dockerId: containerId } }, select: { state: true } });
  if (!known) throw new AppError("NOT_FOUND", "Container not found on this host");
  return known;
}

export async function containerProcesses(opts: Target): Promise<OperationResult<"container.top">> {
  await assertKnown(opts.db, opts.hostId, opts.containerId);
  return opts.link.request(opts.hostId, "container.top", { containerId: opts.containerId });
}

export type LayerChange = { path: string; kind: "changed" | "added" | "deleted" };
const KIND = { 0: "changed", 1: "added", 2: "deleted" } as const;

/** `docker diff`, sorted by path (a tree reads top-down). */
export async function containerChanges(opts: Target): Promise<{ changes: LayerChange[]; truncated: boolean; total: number }> {
  await assertKnown(opts.db, opts.hostId, opts.containerId);
  const result = await opts.link.request(opts.hostId, "container.changes", { containerId: opts.containerId }, { timeoutMs: 60_000 });
  return {
    changes: result.changes.map((c) => ({ path: c.path, kind: KIND[c.kind] })).sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
    truncated: result.truncated,
    total: result.total,
  };
}

/**
 * The writable layer's size (SizeRw) against everything the container sees
 * (SizeRootFs = the image's layers + the writable one). Walking the layer can
 * take a while on a big one: a generous timeout.
 */
export async function containerLayerSize(opts: Target): Promise<{ sizeRw: number | null; sizeRootFs: number | null; imageSize: number | null }> {
  await assertKnown(opts.db, opts.hostId, opts.containerId);
  const { sizeRw, sizeRootFs } = await opts.link.request(opts.hostId, "container.size", { containerId: opts.containerId }, { timeoutMs: 60_000 });
  return { sizeRw, sizeRootFs, imageSize: sizeRw !== null && sizeRootFs !== null ? Math.max(0, sizeRootFs - sizeRw) : null };
}

/** How long a commit's image may take to reach the mirror before the call returns anyway. */
const IMAGE_VISIBLE_WAIT_MS = 5_000;

/**
 * `docker commit` on the host. The agent re-reads its images before it
 * answers, and its frames are applied in order, so the new image is normally
 * in the mirror by now; the short wait covers the frame still being applied,
 * so the host's images list shows it as soon as this returns.
 */
export async function commitContainer(opts: Target & { commit: Omit<TContainerCommitParams, "containerId"> }): Promise<{ imageId: string; reference: string }> {
  await assertKnown(opts.db, opts.hostId, opts.containerId);
  const { imageId } = await opts.link.request(
    opts.hostId,
    "container.commit",
    { containerId: opts.containerId, ...opts.commit },
    // Copying a large writable layer takes time; Docker pauses the container meanwhile.
    { timeoutMs: 300_000 },
  );
  const deadline = Date.now() + IMAGE_VISIBLE_WAIT_MS;
  while (Date.now() < deadline) {
    const row = await opts.db.image.findUnique({ where: { hostId_dockerId: { hostId: opts.hostId, dockerId: imageId } }, select: { dockerId: true } });
    if (row) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { imageId, reference: `${opts.commit.repository}:${opts.commit.tag}` };
}
