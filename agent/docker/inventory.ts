/**
 * Reads Docker's objects and maps them to the wire records of the protocol.
 * Mapping lives here, once, for both the snapshot and single-object refreshes.
 */
import type Docker from "dockerode";
import type {
  TContainerRecord,
  THostInfo,
  TImageRecord,
  TNetworkRecord,
  TSnapshot,
  TVolumeRecord,
} from "../protocol.ts";
import { dockerStatusCode } from "./client.ts";

const ZERO_TIME = "0001-01-01T00:00:00Z";
// Measured (bench/snapshot.ts): 4–8 concurrent inspects are as fast as 16 and load dockerd less.
const INSPECT_CONCURRENCY = 8;

function isoOrNull(value: string | undefined | null): string | null {
  if (!value || value.startsWith("0001-01-01")) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

function labels(value: Record<string, string> | null | undefined): Record<string, string> {
  return value ?? {};
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}

export function toContainerRecord(summary: Docker.ContainerInfo, inspect: Docker.ContainerInspectInfo | null): TContainerRecord {
  const state = inspect?.State;
  return {
    id: summary.Id,
    name: (summary.Names[0] ?? summary.Id.slice(0, 12)).replace(/^\//, ""),
    image: summary.Image,
    imageId: summary.ImageID,
    command: summary.Command ?? "",
    state: summary.State,
    status: summary.Status,
    exitCode: state && !state.Running ? state.ExitCode : null,
    startedAt: isoOrNull(state?.StartedAt ?? ZERO_TIME),
    finishedAt: isoOrNull(state?.FinishedAt ?? ZERO_TIME),
    createdAt: new Date(summary.Created * 1000).toISOString(),
    ports: (summary.Ports ?? []).map((p) => ({
      ...(p.IP ? { ip: p.IP } : {}),
      privatePort: p.PrivatePort,
      ...(p.PublicPort ? { publicPort: p.PublicPort } : {}),
      type: p.Type,
    })),
    labels: labels(summary.Labels),
    inspect: inspect ? withoutEnvValues(inspect) : null,
  };
}

/**
 * The inspect document as stored by the server, minus environment variable
 * values: they routinely hold passwords and API keys, and the server's
 * inventory mirror is no place for them. Names stay, so the UI can list them.
 */
function withoutEnvValues(inspect: Docker.ContainerInspectInfo): Record<string, unknown> {
  const env = inspect.Config?.Env;
  if (!env) return inspect as unknown as Record<string, unknown>;
  return {
    ...inspect,
    Config: { ...inspect.Config, Env: env.map((entry) => `${entry.split("=", 1)[0]}=<redacted>`) },
  } as unknown as Record<string, unknown>;
}

async function inspectOrNull(docker: Docker, id: string): Promise<Docker.ContainerInspectInfo | null> {
  try {
    return await docker.getContainer(id).inspect();
  } catch (error) {
    if (dockerStatusCode(error) === 404) return null;
    throw error;
  }
}

export async function listContainerRecords(docker: Docker): Promise<TContainerRecord[]> {
  const summaries = await docker.listContainers({ all: true });
  return mapLimited(summaries, INSPECT_CONCURRENCY, async (s) => toContainerRecord(s, await inspectOrNull(docker, s.Id)));
}

/** Current record of one container, or null when it no longer exists. */
export async function getContainerRecord(docker: Docker, id: string): Promise<TContainerRecord | null> {
  const [summary] = await docker.listContainers({ all: true, filters: { id: [id] } });
  if (!summary) return null;
  return toContainerRecord(summary, await inspectOrNull(docker, summary.Id));
}

export async function listImageRecords(docker: Docker): Promise<TImageRecord[]> {
  const images = await docker.listImages({ all: false });
  return images.map((image) => ({
    id: image.Id,
    repoTags: (image.RepoTags ?? []).filter((t) => t !== "<none>:<none>"),
    repoDigests: (image.RepoDigests ?? []).filter((d) => !d.startsWith("<none>@")),
    parentId: image.ParentId || null,
    sizeBytes: image.Size,
    createdAt: new Date(image.Created * 1000).toISOString(),
    labels: labels(image.Labels),
  }));
}

export async function listVolumeRecords(docker: Docker): Promise<TVolumeRecord[]> {
  const { Volumes } = await docker.listVolumes();
  return (Volumes ?? []).map((volume) => ({
    name: volume.Name,
    driver: volume.Driver,
    mountpoint: volume.Mountpoint,
    scope: volume.Scope,
    labels: labels(volume.Labels),
    createdAt: isoOrNull((volume as { CreatedAt?: string }).CreatedAt),
  }));
}

export async function listNetworkRecords(docker: Docker): Promise<TNetworkRecord[]> {
  const networks = await docker.listNetworks();
  return networks.map((network) => ({
    id: network.Id,
    name: network.Name,
    driver: network.Driver,
    scope: network.Scope,
    internal: network.Internal ?? false,
    subnets: (network.IPAM?.Config ?? []).map((c) => c.Subnet).filter((s): s is string => typeof s === "string"),
    labels: labels(network.Labels),
    createdAt: isoOrNull(network.Created),
  }));
}

export async function readHostInfo(docker: Docker): Promise<THostInfo> {
  const [info, version] = await Promise.all([docker.info(), docker.version()]);
  return {
    hostname: String(info.Name ?? ""),
    os: String(info.OperatingSystem ?? ""),
    kernel: String(info.KernelVersion ?? ""),
    arch: String(info.Architecture ?? ""),
    dockerVersion: String(info.ServerVersion ?? version.Version ?? ""),
    apiVersion: String(version.ApiVersion ?? ""),
    cpus: Number(info.NCPU ?? 0),
    memoryBytes: Number(info.MemTotal ?? 0),
  };
}

export async function takeSnapshot(docker: Docker): Promise<TSnapshot> {
  const [host, containers, images, volumes, networks] = await Promise.all([
    readHostInfo(docker),
    listContainerRecords(docker),
    listImageRecords(docker),
    listVolumeRecords(docker),
    listNetworkRecords(docker),
  ]);
  return { host, containers, images, volumes, networks, takenAt: new Date().toISOString() };
}
