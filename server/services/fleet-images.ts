/**
 * The fleet's images: one row per image id (the same content on several
 * hosts is one row), over the hosts the caller may see (host.view through
 * their teams; a global admin sees all — the same scope as the fleet
 * container list), with its tags and digests from every host, the hosts it
 * is on, the containers using it across them, and whether a registry has a
 * newer image for one of its tags (services/image-updates.ts).
 *
 * Grouped in memory from two indexed reads (image by host, container by
 * host and image id): bounded by FLEET_IMAGES_MAX_ROWS image rows, which the
 * answer says when it is reached.
 */
import { z } from "zod";
import type { Db } from "../db/client.ts";
import { hostsWithPermission, type Principal } from "./access.ts";
import { checkApplies, updateChecksByImage, type UpdateStatus } from "./image-updates.ts";

export const FLEET_IMAGES_MAX_ROWS = 20_000;
/** Containers listed per image (the count is always complete). */
export const FLEET_IMAGE_CONTAINERS_SHOWN = 50;

export const ZFleetImagesQuery = z
  .object({
    /** Part of a tag, a digest or the id, any case. */
    text: z.string().trim().max(1024).optional(),
    hostIds: z.array(z.string().min(1).max(64)).max(1000).optional(),
    /** Only untagged images (`<none>:<none>`, Docker's "dangling"). */
    dangling: z.boolean().optional(),
    /** Only images no container uses on the hosts shown (what `docker image prune -a` would take). */
    unused: z.boolean().optional(),
    /** Only images a registry has a newer digest for (on at least one host). */
    updates: z.boolean().optional(),
  })
  .default({});
export type TFleetImagesQuery = z.infer<typeof ZFleetImagesQuery>;

export type FleetImage = {
  imageId: string;
  repoTags: string[];
  repoDigests: string[];
  sizeBytes: number;
  createdAt: Date;
  dangling: boolean;
  hosts: Array<{ hostId: string; hostName: string; containers: number; update: UpdateStatus | null }>;
  containerCount: number;
  containers: Array<{ hostId: string; hostName: string; dockerId: string; name: string; state: string }>;
  updateAvailable: boolean;
};

/** Docker lists an untagged image with no tags or with the placeholder `<none>:<none>`. */
export function isDangling(repoTags: string[]): boolean {
  return repoTags.every((tag) => tag === "<none>:<none>");
}

/** The most telling status of a host's checks for an image: outdated over error over unreachable over current. */
function worst(statuses: UpdateStatus[]): UpdateStatus | null {
  for (const s of ["outdated", "error", "unreachable", "current"] as const) if (statuses.includes(s)) return s;
  return null;
}

export async function listFleetImages(opts: { db: Db; principal: Principal; query: TFleetImagesQuery }) {
  const { db, query } = opts;
  const visible = await hostsWithPermission(db, opts.principal, "host.view");
  let hostIds = visible;
  if (query.hostIds?.length) hostIds = visible === null ? query.hostIds : query.hostIds.filter((id) => visible.includes(id));
  if (hostIds !== null && hostIds.length === 0) return { images: [] as FleetImage[], truncated: false, hostCount: 0 };
  const where = hostIds === null ? {} : { hostId: { in: hostIds } };

  const [rows, containers, checks] = await Promise.all([
    db.image.findMany({
      where,
      select: { hostId: true, dockerId: true, repoTags: true, repoDigests: true, sizeBytes: true, createdAt: true, host: { select: { name: true } } },
      orderBy: [{ dockerId: "asc" }, { hostId: "asc" }],
      take: FLEET_IMAGES_MAX_ROWS + 1,
    }),
    db.container.findMany({
      where,
      select: { hostId: true, dockerId: true, name: true, state: true, imageId: true, host: { select: { name: true } } },
      orderBy: [{ name: "asc" }, { hostId: "asc" }],
    }),
    updateChecksByImage(db, hostIds),
  ]);
  const truncated = rows.length > FLEET_IMAGES_MAX_ROWS;

  const usedBy = new Map<string, typeof containers>();
  for (const c of containers) {
    const key = `${c.hostId} ${c.imageId}`;
    const list = usedBy.get(key);
    if (list) list.push(c);
    else usedBy.set(key, [c]);
  }

  const byId = new Map<string, FleetImage & { allContainers: typeof containers }>();
  for (const row of rows.slice(0, FLEET_IMAGES_MAX_ROWS)) {
    let image = byId.get(row.dockerId);
    if (!image) {
      image = {
        imageId: row.dockerId,
        repoTags: [],
        repoDigests: [],
        sizeBytes: Number(row.sizeBytes),
        createdAt: row.createdAt,
        dangling: true,
        hosts: [],
        containerCount: 0,
        containers: [],
        updateAvailable: false,
        allContainers: [],
      };
      byId.set(row.dockerId, image);
    }
    for (const tag of row.repoTags) if (tag !== "<none>:<none>" && !image.repoTags.includes(tag)) image.repoTags.push(tag);
    for (const digest of row.repoDigests) if (!image.repoDigests.includes(digest)) image.repoDigests.push(digest);
    image.dangling = isDangling(image.repoTags);
    const users = usedBy.get(`${row.hostId} ${row.dockerId}`) ?? [];
    image.allContainers.push(...users);
    const statuses = (checks.get(`${row.hostId} ${row.dockerId}`) ?? []).filter((check) => checkApplies(row, check)).map((check) => check.status);
    const update = worst(statuses);
    if (update === "outdated") image.updateAvailable = true;
    image.hosts.push({ hostId: row.hostId, hostName: row.host.name, containers: users.length, update });
  }

  const needle = query.text?.toLowerCase();
  const images: FleetImage[] = [];
  for (const { allContainers, ...image } of byId.values()) {
    if (query.dangling && !image.dangling) continue;
    if (query.unused && allContainers.length > 0) continue;
    if (query.updates && !image.updateAvailable) continue;
    if (needle && ![image.imageId, ...image.repoTags, ...image.repoDigests].some((v) => v.toLowerCase().includes(needle))) continue;
    image.hosts.sort((a, b) => a.hostName.localeCompare(b.hostName));
    image.containerCount = allContainers.length;
    image.containers = allContainers
      .slice(0, FLEET_IMAGE_CONTAINERS_SHOWN)
      .map((c) => ({ hostId: c.hostId, hostName: c.host.name, dockerId: c.dockerId, name: c.name, state: c.state }));
    images.push(image);
  }
  images.sort((a, b) => (a.repoTags[0] ?? `~${a.imageId}`).localeCompare(b.repoTags[0] ?? `~${b.imageId}`));
  return { images, truncated, hostCount: hostIds === null ? null : hostIds.length };
}
