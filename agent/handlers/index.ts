/**
 * The agent's allow-list: one handler per protocol operation, nothing else.
 * `dispatch` validates the envelope and the params before any Docker call and
 * always answers with a response frame — it never throws.
 */
import type Docker from "dockerode";
import { dockerErrorMessage, dockerStatusCode } from "../docker/client.ts";
import { SearchError, searchContainerLogs } from "../docker/log-search.ts";
import {
  describeZodError,
  operations,
  ZOperationRequest,
  type OperationParams,
  type OperationResult,
  type OperationType,
  type TOperationResponse,
} from "../protocol.ts";
import {
  killContainer,
  pauseContainer,
  removeContainer,
  renameContainer,
  restartContainer,
  startContainer,
  stopContainer,
  unpauseContainer,
  updateContainer,
  containerSpec,
  createContainer,
  recreateContainer,
  commitContainer,
  containerChanges,
  containerSize,
  topContainer,
} from "./containers.ts";
import { imageLayers } from "../docker/image-layers.ts";
import { systemDf } from "../docker/system-df.ts";
import { previewImagePrune, pruneImages, removeImage, tagImage, untagImage } from "../docker/image-manage.ts";

type Handlers = { [T in OperationType]: (docker: Docker, params: OperationParams<T>) => Promise<OperationResult<T>> };

const handlers: Handlers = {
  "container.start": startContainer,
  "container.stop": stopContainer,
  "container.restart": restartContainer,
  "container.kill": killContainer,
  "container.pause": pauseContainer,
  "container.unpause": unpauseContainer,
  "container.rename": renameContainer,
  "container.remove": removeContainer,
  "container.update": updateContainer,
  "container.create": createContainer,
  "container.spec": containerSpec,
  "container.recreate": recreateContainer,
  "host.ping": async (docker) => ({ dockerVersion: String((await docker.version()).Version) }),
  "system.df": systemDf,
  "container.top": topContainer,
  "container.changes": containerChanges,
  "container.size": containerSize,
  "container.commit": commitContainer,
  "image.layers": (docker, params) => imageLayers(docker, params.imageId),
  "container.logs.search": searchContainerLogs,
  "image.tag": tagImage,
  "image.untag": untagImage,
  "image.remove": removeImage,
  "image.prune.preview": previewImagePrune,
  "image.prune": pruneImages,
};

/**
 * What an operation's success means for the inventory, awaited before the
 * answer goes back: a commit creates an image, which Docker announces with no
 * image event, so the agent re-reads its images and sends the change first
 * (the server applies frames in order, so the image row lands with the answer).
 */
export type DispatchHooks = { imagesChanged?: () => Promise<unknown> };
const AFTER: Partial<Record<OperationType, keyof DispatchHooks>> = {
  "container.commit": "imagesChanged",
  "image.tag": "imagesChanged",
  "image.untag": "imagesChanged",
  "image.remove": "imagesChanged",
  "image.prune": "imagesChanged",
};

function isOperationType(type: string): type is OperationType {
  return Object.hasOwn(operations, type);
}

export async function dispatch(docker: Docker, frame: unknown, hooks: DispatchHooks = {}): Promise<TOperationResponse> {
  const envelope = ZOperationRequest.safeParse(frame);
  const requestId =
    envelope.success ? envelope.data.requestId : String((frame as { requestId?: unknown } | null)?.requestId ?? "").slice(0, 64);
  if (!envelope.success) {
    return { requestId, ok: false, error: { code: "BAD_REQUEST", message: `Malformed request: ${describeZodError(envelope.error)}` } };
  }
  const { type } = envelope.data;
  if (!isOperationType(type)) {
    return { requestId, ok: false, error: { code: "UNKNOWN_OPERATION", message: `Unknown operation "${type}"` } };
  }
  const params = operations[type].params.safeParse(envelope.data.params);
  if (!params.success) {
    return { requestId, ok: false, error: { code: "BAD_REQUEST", message: `Invalid params for ${type}: ${describeZodError(params.error)}` } };
  }
  try {
    const handler = handlers[type] as (docker: Docker, params: unknown) => Promise<unknown>;
    const result = await handler(docker, params.data);
    const after = AFTER[type];
    if (after) await hooks[after]?.().catch(() => undefined); // reconciliation heals a failed re-read
    return { requestId, ok: true, result };
  } catch (error) {
    if (error instanceof SearchError) return { requestId, ok: false, error: { code: "BAD_REQUEST", message: error.message.slice(0, 8192) } };
    const status = dockerStatusCode(error);
    return {
      requestId,
      ok: false,
      error: { code: status === 404 ? "NOT_FOUND" : status ? "DOCKER_ERROR" : "INTERNAL", message: dockerErrorMessage(error).slice(0, 8192) },
    };
  }
}
