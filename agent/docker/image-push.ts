/**
 * `docker push` (after `docker tag` when a source image is given) with
 * Docker's per-layer progress, as a stream: the same reduction as pulls
 * (image-progress.ts). Credentials come with the request and go only into
 * Docker's X-Registry-Auth header; Docker wants that header on every push,
 * so an anonymous push sends an empty one.
 */
import type { IncomingMessage } from "node:http";
import type Docker from "dockerode";
import { parseImageReference } from "../image-reference.ts";
import type { TImagePushParams } from "../protocol.ts";
import { followProgress, type ProgressHandle, type ProgressSink } from "./image-progress.ts";

/** The reference's repository and tag, checked by Docker's rules again here (a push names one tag, never a digest). */
export function repositoryAndTag(reference: string): { repo: string; tag: string; familiar: string } {
  const parsed = parseImageReference(reference);
  if (!parsed.ok) throw Object.assign(new Error(parsed.error.message), { statusCode: 400 });
  if (parsed.reference.digest || !parsed.reference.tag) throw Object.assign(new Error(`"${reference}" names a digest: give a tag`), { statusCode: 400 });
  return { repo: parsed.reference.familiarName, tag: parsed.reference.tag, familiar: `${parsed.reference.familiarName}:${parsed.reference.tag}` };
}

export async function openImagePush(docker: Docker, params: TImagePushParams, sink: ProgressSink): Promise<ProgressHandle> {
  const { repo, tag, familiar } = repositoryAndTag(params.reference);
  if (params.source) await docker.getImage(params.source).tag({ repo, tag });
  const auth = params.auth ?? {};
  const response = (await docker.getImage(repo).push({ tag, authconfig: auth })) as IncomingMessage;
  return followProgress(response, sink, async (digest) => ({ imageId: (await docker.getImage(familiar).inspect()).Id, digest }));
}
