import type Docker from "dockerode";
import type { OperationParams } from "../protocol.ts";

export async function startContainer(docker: Docker, params: OperationParams<"container.start">) {
  await docker.getContainer(params.containerId).start();
  return {};
}

export async function stopContainer(docker: Docker, params: OperationParams<"container.stop">) {
  await docker.getContainer(params.containerId).stop(params.timeoutSeconds === undefined ? {} : { t: params.timeoutSeconds });
  return {};
}

export async function restartContainer(docker: Docker, params: OperationParams<"container.restart">) {
  await docker.getContainer(params.containerId).restart(params.timeoutSeconds === undefined ? {} : { t: params.timeoutSeconds });
  return {};
}
