/**
 * Container queries (from Postgres, the mirror) and actions (through the
 * host's agent, which asks Docker; the resulting Docker event updates the
 * mirror, so the action never writes inventory rows itself).
 */
import type { Db, Prisma } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { AgentLink } from "./agent-link.ts";
import { runLifecycleAction } from "./container-lifecycle.ts";
import { checkApplies, updateChecksByImage } from "./image-updates.ts";

const containerListSelect = {
  hostId: true,
  dockerId: true,
  name: true,
  image: true,
  imageId: true,
  command: true,
  state: true,
  health: true,
  exitCode: true,
  oomKilled: true,
  restartCount: true,
  startedAt: true,
  finishedAt: true,
  createdAt: true,
  ports: true,
  labels: true,
  syncedAt: true,
} satisfies Prisma.ContainerSelect;

export type ContainerRow = Prisma.ContainerGetPayload<{ select: typeof containerListSelect }>;

export async function listContainers(db: Db, hostId: string): Promise<ContainerRow[]> {
  return db.container.findMany({ where: { hostId }, select: containerListSelect, orderBy: { name: "asc" } });
}

export async function getContainer(db: Db, hostId: string, containerId: string) {
  const container = await db.container.findUnique({
    where: { hostId_dockerId: { hostId, dockerId: containerId } },
    select: { ...containerListSelect, inspect: true },
  });
  if (!container) throw new AppError("NOT_FOUND", "Container not found on this host");
  return container;
}

export type ContainerAction = "start" | "stop" | "restart";

/** Start, stop or restart with Docker's defaults; every lifecycle action runs through `runLifecycleAction`. */
export async function runContainerAction(opts: { db: Db; link: AgentLink; hostId: string; containerId: string; action: ContainerAction }) {
  const { action, ...ref } = opts;
  await runLifecycleAction({ ...ref, request: { action } });
}

const imageListSelect = {
  hostId: true,
  dockerId: true,
  repoTags: true,
  repoDigests: true,
  parentId: true,
  sizeBytes: true,
  createdAt: true,
  labels: true,
} satisfies Prisma.ImageSelect;

/** The host's images, each with the containers using it and its update checks that still apply. */
export async function listImages(db: Db, hostId: string) {
  const [images, containers, checks] = await Promise.all([
    db.image.findMany({ where: { hostId }, select: imageListSelect, orderBy: { createdAt: "desc" } }),
    db.container.findMany({ where: { hostId }, select: { dockerId: true, name: true, state: true, imageId: true }, orderBy: { name: "asc" } }),
    updateChecksByImage(db, [hostId]),
  ]);
  const usedBy = new Map<string, typeof containers>();
  for (const c of containers) {
    const list = usedBy.get(c.imageId);
    if (list) list.push(c);
    else usedBy.set(c.imageId, [c]);
  }
  return images.map((image) => {
    const users = usedBy.get(image.dockerId) ?? [];
    return {
      ...image,
      containers: users.length,
      usedBy: users.map(({ imageId: _, ...c }) => c),
      updates: (checks.get(`${hostId} ${image.dockerId}`) ?? []).filter((check) => checkApplies(image, check)),
    };
  });
}
