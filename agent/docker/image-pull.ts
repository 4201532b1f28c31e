/**
 * `docker pull` with Docker's per-layer progress, as a stream (the progress
 * itself is reduced in image-progress.ts, shared with push).
 *
 * Credentials come with each request from the server (the registry's, if the
 * caller may use it) and go only into Docker's X-Registry-Auth header: the
 * agent neither stores nor logs them.
 */
import type { IncomingMessage } from "node:http";
import type Docker from "dockerode";
import type { TImagePullParams } from "../protocol.ts";
import { authConfigOf, followProgress, type ProgressHandle, type ProgressSink } from "./image-progress.ts";

export { PROGRESS_INTERVAL_MS } from "./image-progress.ts";
export type PullSink = ProgressSink;

export async function openImagePull(docker: Docker, params: TImagePullParams, sink: PullSink): Promise<ProgressHandle> {
  const response = (await docker.pull(params.reference, authConfigOf(params.auth))) as IncomingMessage;
  return followProgress(response, sink, async (digest) => ({ imageId: (await docker.getImage(params.reference).inspect()).Id, digest }));
}
