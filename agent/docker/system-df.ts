/**
 * `docker system df`: Docker's disk-usage answer (`GET /system/df`) summed
 * into the four rows the CLI prints, with the CLI's own rules
 * (docker/cli cli/command/formatter/disk_usage.go), so Berth and
 * `docker system df` agree:
 *
 *   images      size = LayersSize (layers counted once); reclaimable = size
 *               minus the unique bytes (Size − SharedSize) of images some
 *               container uses; active = images with containers.
 *   containers  size = Σ SizeRw; reclaimable = SizeRw of containers not
 *               running, paused or restarting (those are active).
 *   volumes     size = Σ UsageData.Size (−1 = unknown, skipped); reclaimable
 *               = size of volumes no container references (RefCount 0).
 *   build cache size = Σ Size of records not shared; reclaimable = those not in use.
 */
import type Docker from "dockerode";
import type { TSystemDf } from "../protocol.ts";

type DfImage = { Containers?: number; Size?: number; SharedSize?: number; VirtualSize?: number };
type DfContainer = { SizeRw?: number; State?: string };
type DfVolume = { UsageData?: { Size?: number; RefCount?: number } | null };
type DfBuildCache = { Size?: number; InUse?: boolean; Shared?: boolean };
type DfAnswer = { LayersSize?: number; Images?: DfImage[] | null; Containers?: DfContainer[] | null; Volumes?: DfVolume[] | null; BuildCache?: DfBuildCache[] | null };

const nonNegative = (n: number) => Math.max(0, Math.round(n));

export function summarizeDiskUsage(df: DfAnswer): TSystemDf {
  const images = df.Images ?? [];
  const imagesSize = df.LayersSize ?? 0;
  let usedByContainers = 0;
  for (const image of images) {
    if (!image.Containers) continue;
    const size = image.Size ?? image.VirtualSize ?? -1;
    if (size === -1 || image.SharedSize === -1) continue;
    usedByContainers += size - (image.SharedSize ?? 0);
  }

  const containers = df.Containers ?? [];
  const isActive = (c: DfContainer) => /running|paused|restarting/.test(c.State ?? "");
  let containersSize = 0;
  let containersReclaimable = 0;
  for (const c of containers) {
    containersSize += c.SizeRw ?? 0;
    if (!isActive(c)) containersReclaimable += c.SizeRw ?? 0;
  }

  const volumes = df.Volumes ?? [];
  let volumesSize = 0;
  let volumesReclaimable = 0;
  for (const v of volumes) {
    const size = v.UsageData?.Size ?? -1;
    if (size === -1) continue;
    volumesSize += size;
    if ((v.UsageData?.RefCount ?? 0) === 0) volumesReclaimable += size;
  }

  const cache = df.BuildCache ?? [];
  let cacheSize = 0;
  let cacheReclaimable = 0;
  for (const record of cache) {
    if (record.Shared) continue;
    cacheSize += record.Size ?? 0;
    if (!record.InUse) cacheReclaimable += record.Size ?? 0;
  }

  return {
    images: { count: images.length, active: images.filter((i) => (i.Containers ?? 0) > 0).length, sizeBytes: nonNegative(imagesSize), reclaimableBytes: nonNegative(imagesSize - usedByContainers) },
    containers: { count: containers.length, active: containers.filter(isActive).length, sizeBytes: nonNegative(containersSize), reclaimableBytes: nonNegative(containersReclaimable) },
    volumes: {
      count: volumes.length,
      active: volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length,
      sizeBytes: nonNegative(volumesSize),
      reclaimableBytes: nonNegative(volumesReclaimable),
    },
    buildCache: { count: cache.length, active: cache.filter((r) => r.InUse).length, sizeBytes: nonNegative(cacheSize), reclaimableBytes: nonNegative(cacheReclaimable) },
  };
}

export async function systemDf(docker: Docker): Promise<TSystemDf> {
  return summarizeDiskUsage((await docker.df()) as DfAnswer);
}
