import type Docker from "dockerode";
import { CHANGES_MAX_PATHS, TOP_MAX_PROCESSES, type OperationParams, type OperationResult } from "../protocol.ts";
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
