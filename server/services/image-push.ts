/**
 * Pushing an image of a host to a registry: `docker tag` of the chosen image
 * as the target reference, then `docker push`, with per-layer progress
 * relayed live (image-transfer.ts), audited as `images.push`.
 *
 * Tagging is part of pushing (Docker pushes a name, not an image), so
 * `image.push` covers naming the image as the target. Moving a tag another
 * image already has is what `images.tag` does, and needs what it needs
 * (`image.remove`, see the router): otherwise a push could silently re-point
 * a name other people run.
 */
import { parseImageReference } from "../../agent/image-reference.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { permissionsOnHost } from "./access.ts";
import { startImageTransfer, type TransferHandle, type TransferOptions } from "./image-transfer.ts";

/** The reference as a tag to create: Docker's rules, a tag (never a digest). */
export function parseTagReference(input: string) {
  const parsed = parseImageReference(input.trim());
  if (!parsed.ok) throw new AppError("BAD_REQUEST", parsed.error.message);
  if (parsed.reference.digest) throw new AppError("BAD_REQUEST", `"${input.trim()}" names a digest: give a tag (name:tag)`);
  return parsed.reference;
}

/** The image on the host (the mirror's row), and the image that has `familiar` as a tag now, if another one does. */
export async function imageAndTagOwner(db: Db, hostId: string, imageId: string, familiar: string) {
  const [image, owner] = await Promise.all([
    db.image.findUnique({ where: { hostId_dockerId: { hostId, dockerId: imageId } }, select: { dockerId: true, repoTags: true } }),
    db.image.findFirst({ where: { hostId, repoTags: { has: familiar } }, select: { dockerId: true } }),
  ]);
  if (!image) throw new AppError("NOT_FOUND", "Image not found on this host");
  return { image, movesTagFrom: owner && owner.dockerId !== image.dockerId ? owner.dockerId : null };
}

export async function startImagePush(opts: TransferOptions & { imageId: string; reference: string }): Promise<TransferHandle> {
  const reference = parseTagReference(opts.reference);
  const { image, movesTagFrom } = await imageAndTagOwner(opts.db, opts.hostId, opts.imageId, reference.familiar);
  if (movesTagFrom && !(await permissionsOnHost(opts.db, opts.principal, opts.hostId)).has("image.remove")) {
    throw new AppError("FORBIDDEN", `${reference.familiar} is another image's tag on this host; moving it needs the "image.remove" permission`);
  }
  return startImageTransfer({
    ...opts,
    kind: "push",
    reference,
    params: { source: image.dockerId },
    target: `imageId:${image.dockerId}`,
    auditParams: { imageId: image.dockerId, movedTagFrom: movesTagFrom },
  });
}
