/**
 * Pulling an image on a host, with Docker's per-layer progress relayed live
 * (image-transfer.ts). The reference is parsed by Docker's rules first (a
 * clear error for a bad one, before any agent is asked).
 */
import { parseImageReference } from "../../agent/image-reference.ts";
import { AppError } from "../errors.ts";
import { startImageTransfer, type TransferHandle, type TransferOptions } from "./image-transfer.ts";

export type PullHandle = TransferHandle;

export async function startImagePull(opts: TransferOptions & { reference: string }): Promise<PullHandle> {
  const parsed = parseImageReference(opts.reference.trim());
  if (!parsed.ok) throw new AppError("BAD_REQUEST", parsed.error.message);
  // What Docker is asked for: the normalised name (docker.io/library/… for Docker Hub) with its tag or digest.
  return startImageTransfer({ ...opts, kind: "pull", reference: parsed.reference, params: {}, target: `reference:${parsed.reference.canonical}` });
}
