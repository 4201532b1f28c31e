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

export async function killContainer(docker: Docker, params: OperationParams<"container.kill">) {
  await docker.getContainer(params.containerId).kill({ signal: params.signal });
  return {};
}

export async function pauseContainer(docker: Docker, params: OperationParams<"container.pause">) {
  await docker.getContainer(params.containerId).pause();
  return {};
}

export async function unpauseContainer(docker: Docker, params: OperationParams<"container.unpause">) {
  await docker.getContainer(params.containerId).unpause();
  return {};
}

export async function renameContainer(docker: Docker, params: OperationParams<"container.rename">) {
  await docker.getContainer(params.containerId).rename({ name: params.name.replace(/^\//, "") });
  return {};
}

export async function removeContainer(docker: Docker, params: OperationParams<"container.remove">) {
  await docker.getContainer(params.containerId).remove({ force: params.force, v: params.removeVolumes });
  return {};
}

/** `docker update`: Docker's field names, only for what was given (Docker treats 0 as "unchanged" for most, not all). */
export async function updateContainer(docker: Docker, params: OperationParams<"container.update">) {
  const body: Record<string, unknown> = {};
  if (params.memoryBytes !== undefined) body.Memory = params.memoryBytes;
  if (params.memorySwapBytes !== undefined) body.MemorySwap = params.memorySwapBytes;
  if (params.cpuShares !== undefined) body.CpuShares = params.cpuShares;
  if (params.cpuPeriod !== undefined) body.CpuPeriod = params.cpuPeriod;
  if (params.cpuQuota !== undefined) body.CpuQuota = params.cpuQuota;
  if (params.nanoCpus !== undefined) body.NanoCpus = params.nanoCpus;
  if (params.restartPolicy) {
    body.RestartPolicy = { Name: params.restartPolicy.name, MaximumRetryCount: params.restartPolicy.maximumRetryCount ?? 0 };
  }
  const result = (await docker.getContainer(params.containerId).update(body)) as { Warnings?: string[] | null } | undefined;
  return { warnings: (result?.Warnings ?? []).slice(0, 32).map((w) => String(w).slice(0, 1024)) };
}
