/**
 * Images as Docker stores them: read live from the host's agent (layer
 * digests, build history), for an image the mirror knows on that host.
 */
import type { TImageLayers } from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink } from "./agent-link.ts";

export type ImageLayerView = TImageLayers & {
  /** Bytes of this image's layers that at least one other local image also uses (stored once on disk). */
  sharedBytes: number;
  /** Bytes only this image uses: what removing it would free. */
  uniqueBytes: number;
};

export async function imageLayers(opts: { db: Db; link: AgentLink; hostId: string; imageId: string }): Promise<ImageLayerView> {
  const known = await opts.db.image.findUnique({ where: { hostId_dockerId: { hostId: opts.hostId, dockerId: opts.imageId } }, select: { dockerId: true } });
  if (!known) throw new AppError("NOT_FOUND", "Image not found on this host");
  const view = await opts.link.request(opts.hostId, "image.layers", { imageId: opts.imageId }, { timeoutMs: 60_000 });
  let sharedBytes = 0;
  let uniqueBytes = 0;
  for (const layer of view.layers) {
    if (layer.sharedWith.length > 0) sharedBytes += layer.sizeBytes ?? 0;
    else uniqueBytes += layer.sizeBytes ?? 0;
  }
  return { ...view, sharedBytes, uniqueBytes };
}
