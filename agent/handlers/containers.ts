import type Docker from "dockerode";
import { createBodyOf, specOfInspect } from "../docker/create-spec.ts";
import { dockerErrorMessage, dockerStatusCode } from "../docker/client.ts";
import { CHANGES_MAX_PATHS, TOP_MAX_PROCESSES, type OperationParams, type OperationResult, type TContainerCreateSpec } from "../protocol.ts";
import { maskSecretArgs } from "../redaction.ts";

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

/** Docker's "No such image" on create, said in Berth's words: pulling is a separate step. */
function missingImage(error: unknown, image: string): Error | null {
  if (dockerStatusCode(error) !== 404 || !/no such image/i.test(dockerErrorMessage(error))) return null;
  return Object.assign(new Error(`Image ${image} is not on this host; pull it first`), { statusCode: 404 });
}

/** Creates the container, connects the extra networks, starts it when asked. */
async function createFromSpec(docker: Docker, spec: TContainerCreateSpec): Promise<{ id: string; warnings: string[] }> {
  let created: Docker.Container;
  try {
    created = await docker.createContainer(createBodyOf(spec) as Docker.ContainerCreateOptions);
  } catch (error) {
    throw missingImage(error, spec.image) ?? error;
  }
  try {
    for (const network of spec.networks.slice(1)) {
      await docker.getNetwork(network.name).connect({ Container: created.id, EndpointConfig: { Aliases: network.aliases } });
    }
    if (spec.start) await created.start();
  } catch (error) {
    // A container that could not be wired or started is removed, so the same form can be sent again
    // (same name, same ports); the user sees Docker's own reason.
    await created.remove({ force: true, v: true }).catch(() => undefined);
    throw error;
  }
  return { id: created.id, warnings: [] };
}

export async function createContainer(docker: Docker, params: OperationParams<"container.create">) {
  return createFromSpec(docker, params.spec);
}

export async function containerSpec(docker: Docker, params: OperationParams<"container.spec">) {
  const inspect = (await docker.getContainer(params.containerId).inspect()) as unknown as Record<string, unknown>;
  const imageId = String(inspect.Image ?? "");
  const image = imageId ? ((await docker.getImage(imageId).inspect().catch(() => null)) as unknown as Record<string, unknown> | null) : null;
  const state = String((inspect.State as { Status?: unknown } | undefined)?.Status ?? "");
  return { spec: specOfInspect(inspect, image), name: String(inspect.Name ?? "").replace(/^\//, ""), state };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** How long a new container with a healthcheck may stay "starting" before recreate gives up on it. */
const HEALTHY_WITHIN_MS = 60_000;

/** Why a just-started container is not fit to replace the old one, or null once it has proven itself. */
async function watchNewContainer(docker: Docker, id: string, watchMs: number): Promise<string | null> {
  const started = Date.now();
  for (;;) {
    let state: { Status?: string; ExitCode?: number; Health?: { Status?: string } };
    try {
      state = ((await docker.getContainer(id).inspect()) as unknown as { State: typeof state }).State;
    } catch (error) {
      if (dockerStatusCode(error) === 404) return "The new container exited and was removed (--rm)";
      throw error;
    }
    if (state.Status === "exited" || state.Status === "dead") return `The new container exited with code ${state.ExitCode ?? "?"}`;
    if (state.Status === "restarting") return "The new container is restarting (it exited)";
    if (state.Health?.Status === "unhealthy") return "The new container is unhealthy";
    const elapsed = Date.now() - started;
    if (elapsed >= watchMs && state.Status === "running") {
      if (!state.Health || state.Health.Status === "healthy") return null;
      if (elapsed >= Math.max(watchMs, HEALTHY_WITHIN_MS)) return "The new container did not become healthy in time";
    }
    await sleep(200);
  }
}

export async function recreateContainer(docker: Docker, params: OperationParams<"container.recreate">) {
  const old = docker.getContainer(params.containerId);
  const info = (await old.inspect()) as unknown as { Id: string; Name: string; State: { Running: boolean }; HostConfig?: { AutoRemove?: boolean } };
  if (info.HostConfig?.AutoRemove && info.State.Running) {
    // Stopping it would make Docker delete it: there would be nothing to roll back to.
    const message = "This container was started with --rm: Docker removes it when it stops, so it cannot be kept aside for a rollback. Stop it and create a new one instead.";
    throw Object.assign(new Error(message), { statusCode: 409 });
  }
  const name = info.Name.replace(/^\//, "");
  const aside = `${name}-berth-old-${Date.now().toString(36)}`;
  const wasRunning = info.State.Running;
  await old.rename({ name: aside });
  const restore = async () => {
    await old.rename({ name });
    if (wasRunning) await old.start();
  };
  try {
    if (wasRunning) await old.stop();
  } catch (error) {
    await old.rename({ name }).catch(() => undefined);
    throw error;
  }
  let created: { id: string } | null = null;
  let reason: string | null;
  try {
    created = await createFromSpec(docker, { ...params.spec, name });
    reason = params.spec.start ? await watchNewContainer(docker, created.id, params.watchMs) : null;
  } catch (error) {
    reason = (missingImage(error, params.spec.image) ?? null)?.message ?? dockerErrorMessage(error);
  }
  if (reason === null && created) {
    await old.remove({ force: true });
    return { outcome: "replaced" as const, id: created.id };
  }
  if (created) await docker.getContainer(created.id).remove({ force: true, v: true }).catch(() => undefined);
  try {
    await restore();
  } catch (error) {
    throw new Error(`${reason}; restoring the old container (now named ${aside}) failed too: ${dockerErrorMessage(error)}`);
  }
  return { outcome: "rolledBack" as const, id: info.Id, reason: reason ?? "unknown" };
}

/** Columns of `ps` output that hold a command line: masked like inspect's command (secrets in arguments). */
const COMMAND_COLUMNS = new Set(["CMD", "COMMAND", "ARGS"]);

export async function topContainer(docker: Docker, params: OperationParams<"container.top">): Promise<OperationResult<"container.top">> {
  const top = (await docker.getContainer(params.containerId).top()) as { Titles?: string[]; Processes?: string[][] };
  const titles = (top.Titles ?? []).slice(0, 64).map((t) => String(t).slice(0, 64));
  const masked = new Set(titles.map((t, i) => (COMMAND_COLUMNS.has(t.toUpperCase()) ? i : -1)).filter((i) => i >= 0));
  const all = top.Processes ?? [];
  const processes = all.slice(0, TOP_MAX_PROCESSES).map((row) =>
    row.slice(0, 64).map((cell, i) => {
      const text = String(cell);
      return (masked.has(i) ? maskSecretArgs([text])[0]! : text).slice(0, 4096);
    }),
  );
  return { titles, processes, truncated: all.length > processes.length };
}

export async function containerChanges(docker: Docker, params: OperationParams<"container.changes">): Promise<OperationResult<"container.changes">> {
  const changes = ((await docker.getContainer(params.containerId).changes()) ?? []) as Array<{ Path: string; Kind: number }>;
  const kept = changes
    .filter((c) => c.Kind === 0 || c.Kind === 1 || c.Kind === 2)
    .slice(0, CHANGES_MAX_PATHS)
    .map((c) => ({ path: String(c.Path).slice(0, 4096), kind: c.Kind as 0 | 1 | 2 }));
  return { changes: kept, truncated: changes.length > kept.length, total: changes.length };
}

export async function containerSize(docker: Docker, params: OperationParams<"container.size">): Promise<OperationResult<"container.size">> {
  // Computing sizes walks the writable layer: only on request, never in the inventory's inspects.
  const inspect = (await docker.getContainer(params.containerId).inspect({ size: true } as Docker.ContainerInspectOptions)) as { SizeRw?: number; SizeRootFs?: number };
  const size = (v: unknown) => (typeof v === "number" && Number.isFinite(v) && v >= 0 ? Math.round(v) : null);
  return { sizeRw: size(inspect.SizeRw), sizeRootFs: size(inspect.SizeRootFs) };
}

export async function commitContainer(docker: Docker, params: OperationParams<"container.commit">): Promise<OperationResult<"container.commit">> {
  const result = (await docker.getContainer(params.containerId).commit({
    repo: params.repository,
    tag: params.tag,
    comment: params.comment,
    author: params.author,
    pause: params.pause,
    // One `changes` query parameter per instruction, as `docker commit --change` sends them.
    ...(params.changes.length > 0 ? { changes: params.changes } : {}),
  })) as { Id?: string; id?: string };
  const imageId = result.Id ?? result.id;
  if (!imageId) throw new Error("Docker did not return the new image's id");
  return { imageId };
}
