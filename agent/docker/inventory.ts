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
import { maskSecretArgs, maskSecretsInInspect } from "../redaction.ts";
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

type PortBindings = Record<string, Array<{ HostIp?: string; HostPort?: string }> | null> | undefined;

/** Ports as `docker ps` lists them: one entry per binding, unpublished exposed ports without a public port. */
function portsOf(bindings: PortBindings): TContainerRecord["ports"] {
  const ports: TContainerRecord["ports"] = [];
  for (const [key, hostBindings] of Object.entries(bindings ?? {})) {
    const [port, type = "tcp"] = key.split("/");
    const privatePort = Number(port);
    if (!Number.isInteger(privatePort)) continue;
    if (!hostBindings || hostBindings.length === 0) {
      ports.push({ privatePort, type });
      continue;
    }
    for (const b of hostBindings) {
      const publicPort = Number(b.HostPort);
      ports.push({ ...(b.HostIp ? { ip: b.HostIp } : {}), privatePort, ...(publicPort > 0 ? { publicPort } : {}), type });
    }
  }
  return ports;
}

/**
 * A container's record, read from inspect alone: inspect answers under the
 * container's lock, so its state is settled, while the container list (a
 * separate view Docker updates a moment later) can still say "running" right
 * after a `die` event. Mixing the two is how an exited container stayed
 * "running" forever.
 */
export function toContainerRecord(inspect: Docker.ContainerInspectInfo): TContainerRecord {
  const state = inspect.State;
  const health = (state as { Health?: { Status?: string } }).Health?.Status;
  return {
    id: inspect.Id,
    name: inspect.Name.replace(/^\//, ""),
    image: inspect.Config?.Image ?? "",
    imageId: inspect.Image,
    command: maskSecretArgs([inspect.Path, ...(inspect.Args ?? [])].filter(Boolean)).join(" ").slice(0, 4096),
    state: state.Status,
    health: health && health !== "none" ? health : null,
    exitCode: state.ExitCode ?? null,
    oomKilled: state.OOMKilled ?? false,
    restartCount: inspect.RestartCount ?? 0,
    startedAt: isoOrNull(state.StartedAt ?? ZERO_TIME),
    finishedAt: isoOrNull(state.FinishedAt ?? ZERO_TIME),
    createdAt: isoOrNull(inspect.Created) ?? new Date(0).toISOString(),
    ports: portsOf(inspect.NetworkSettings?.Ports as PortBindings),
    labels: labels(inspect.Config?.Labels),
    inspect: redactInspect(inspect),
  };
}

/**
 * The inspect document as stored by the server, with every secret-looking
 * value masked (env values, secret labels and log options, `--password=…`
 * arguments): the server's inventory mirror is no place for them.
 */
function redactInspect(inspect: Docker.ContainerInspectInfo): Record<string, unknown> {
  return maskSecretsInInspect(inspect) as unknown as Record<string, unknown>;
}

/** Current record of one container, or null when it no longer exists. */
export async function getContainerRecord(docker: Docker, id: string): Promise<TContainerRecord | null> {
  try {
    return toContainerRecord(await docker.getContainer(id).inspect());
  } catch (error) {
    if (dockerStatusCode(error) === 404) return null;
    throw error;
  }
}

/** Every container's record; one vanishing between list and inspect is simply left out. */
export async function listContainerRecords(docker: Docker): Promise<TContainerRecord[]> {
  const summaries = await docker.listContainers({ all: true });
  const records = await mapLimited(summaries, INSPECT_CONCURRENCY, (s) => getContainerRecord(docker, s.Id));
  return records.filter((r): r is TContainerRecord => r !== null);
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
