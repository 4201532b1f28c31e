/**
 * Tag, untag, remove and prune images, each with Docker's own semantics and
 * words, plus what Docker would not tell before doing it: which containers
 * hold an image, and which images a prune takes and the bytes it frees.
 *
 * Prune is planned as Docker's `image prune` (daemon/images/image_prune.go)
 * plans it, but the plan is shown first and executed exactly:
 *   - never an image a container (running or not) uses;
 *   - "dangling": images with no tag; "unused": any image;
 *   - an image other images are built on (a parent, e.g. the classic builder's
 *     intermediate steps) goes only when all its children go, as Docker's
 *     cascade does (Docker's `-a` would merely untag a tagged parent: Berth
 *     keeps it whole instead).
 * Executing a prune re-plans and removes the requested images that are still
 * in the plan, children first, one by one with `noprune` (so Docker's own
 * cascade never takes an image that was not previewed); the others are
 * reported as skipped with the reason.
 *
 * Bytes are counted like Docker's SpaceReclaimed: a layer is stored once per
 * chain (its diff on top of the same layers below), so the bytes freed are the
 * sizes of the chains only the removed images use, each counted once. A
 * chain's size is its build step's size in `docker history` (what Docker
 * reports for that layer, its DiffSize).
 */
import type Docker from "dockerode";
import { IMAGE_PRUNE_MAX, type TImageDeleteResult, type TImagePruneMode, type TImagePrunePreview, type TImagePruneResult } from "../protocol.ts";
import { dockerErrorMessage, dockerStatusCode } from "./client.ts";
import { layerMarks, type HistoryEntry } from "./image-layers.ts";
import { repositoryAndTag } from "./image-push.ts";

const NONE = new Set(["<none>:<none>", "<none>@<none>"]);
const real = (refs: string[] | null | undefined) => (refs ?? []).filter((ref) => !NONE.has(ref));

function conflict(message: string): Error {
  return Object.assign(new Error(message), { statusCode: 409 });
}

type Holder = { name: string; state: string };
/** Containers (any state) using each image id. */
async function holdersByImage(docker: Docker): Promise<Map<string, Holder[]>> {
  const holders = new Map<string, Holder[]>();
  for (const c of await docker.listContainers({ all: true })) {
    const list = holders.get(c.ImageID) ?? [];
    list.push({ name: (c.Names?.[0] ?? c.Id.slice(0, 12)).replace(/^\//, ""), state: c.State });
    holders.set(c.ImageID, list);
  }
  return holders;
}
function describeHolders(holders: Holder[]): string {
  const named = holders.slice(0, 5).map((h) => `${h.name} (${h.state})`);
  return `${named.join(", ")}${holders.length > 5 ? ` and ${holders.length - 5} more` : ""}`;
}

function deleteResult(items: Array<{ Untagged?: string; Deleted?: string }>): TImageDeleteResult {
  return {
    untagged: items.flatMap((i) => (i.Untagged ? [i.Untagged] : [])).slice(0, 500),
    deleted: items.flatMap((i) => (i.Deleted ? [i.Deleted] : [])).slice(0, 500),
  };
}

/** Docker's conflict error, with the names of the containers behind it (Docker names only a short id). */
async function withHolders<T>(docker: Docker, imageId: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    if (dockerStatusCode(error) !== 409) throw error;
    const holders = (await holdersByImage(docker).catch(() => new Map<string, Holder[]>())).get(imageId) ?? [];
    if (!holders.length) throw error;
    throw conflict(`${dockerErrorMessage(error)} (used by ${describeHolders(holders)})`);
  }
}

/** `docker tag SOURCE REFERENCE` (Docker moves the tag if another image had it). */
export async function tagImage(docker: Docker, params: { source: string; reference: string }): Promise<Record<string, never>> {
  const { repo, tag } = repositoryAndTag(params.reference);
  await docker.getImage(params.source).tag({ repo, tag });
  return {};
}

/**
 * `docker rmi REFERENCE` of one tag, parents kept (`--no-prune`): the image
 * stays while it has other tags; its last tag takes the image with it (as
 * Docker does), unless a container uses it.
 */
export async function untagImage(docker: Docker, params: { reference: string }): Promise<TImageDeleteResult> {
  const { familiar } = repositoryAndTag(params.reference);
  // A short hex "reference" could be read by Docker as an image id prefix: only an actual tag of an image is untagged.
  const info = await docker.getImage(familiar).inspect();
  if (!real(info.RepoTags).includes(familiar)) throw Object.assign(new Error(`${familiar} is not a tag of any image on this host`), { statusCode: 404 });
  return withHolders(docker, info.Id, async () => deleteResult(await docker.getImage(familiar).remove({ noprune: true })));
}

/** `docker rmi [-f] IMAGE_ID`: every tag and the image (and its untagged parents, as Docker does). */
export async function removeImage(docker: Docker, params: { imageId: string; force: boolean }): Promise<TImageDeleteResult> {
  const info = await docker.getImage(params.imageId).inspect();
  if (!params.force) {
    const holders = (await holdersByImage(docker)).get(info.Id) ?? [];
    if (holders.length) {
      throw conflict(`Image ${info.Id.replace(/^sha256:/, "").slice(0, 12)} is used by container${holders.length > 1 ? "s" : ""} ${describeHolders(holders)}: remove ${holders.length > 1 ? "them" : "it"} first, or force`);
    }
  }
  return withHolders(docker, info.Id, async () => deleteResult(await docker.getImage(info.Id).remove({ force: params.force })));
}

// ------------------------------------------------------------------ prune

type Chain = { key: string; sizeBytes: number };
const CHAINS_MAX = 4_000;
const chainsById = new Map<string, Chain[]>();

/** The image's stored layers as chain keys (the diff ids up to and including it) with their sizes. Cached: an id's content never changes. */
async function chainsOf(docker: Docker, id: string): Promise<Chain[]> {
  const cached = chainsById.get(id);
  if (cached) return cached;
  const image = docker.getImage(id);
  const [info, history] = await Promise.all([image.inspect(), image.history() as Promise<HistoryEntry[]>]);
  const layers = (info.RootFS?.Layers ?? []).filter((layer): layer is string => typeof layer === "string");
  const steps = [...history].reverse().map((entry) => ({ createdBy: String(entry.CreatedBy ?? ""), sizeBytes: Math.max(0, Math.round(entry.Size ?? 0)), comment: String(entry.Comment ?? "") }));
  // With no match between steps and layers, the non-empty steps are taken in order (a 0-byte layer changes no total).
  const marks = layerMarks(steps, layers.length) ?? steps.map((step) => step.sizeBytes > 0);
  const sizes = steps.filter((_, i) => marks[i]).map((step) => step.sizeBytes);
  let key = "";
  const chains = layers.map((diffId, i) => {
    key = key ? `${key} ${diffId}` : diffId;
    return { key, sizeBytes: sizes[i] ?? 0 };
  });
  if (chainsById.size >= CHAINS_MAX) chainsById.delete(chainsById.keys().next().value!);
  chainsById.set(id, chains);
  return chains;
}

type Listed = { id: string; parentId: string; tags: string[]; digests: string[]; sizeBytes: number; createdAt: string };

async function listAll(docker: Docker): Promise<Listed[]> {
  return (await docker.listImages({ all: true })).map((i) => ({
    id: i.Id,
    parentId: i.ParentId ?? "",
    tags: real(i.RepoTags),
    digests: real(i.RepoDigests),
    sizeBytes: Math.max(0, Math.round(i.Size ?? 0)),
    createdAt: new Date((i.Created ?? 0) * 1000).toISOString(),
  }));
}

/** The images a prune takes, children before parents; and why each other image stays. */
function plan(images: Listed[], holders: Map<string, Holder[]>, mode: TImagePruneMode): { take: Listed[]; why: Map<string, string> } {
  const children = new Map<string, string[]>();
  for (const image of images) if (image.parentId) children.set(image.parentId, [...(children.get(image.parentId) ?? []), image.id]);
  const taken = new Set<string>();
  const take: Listed[] = [];
  const why = new Map<string, string>();
  for (let grew = true; grew; ) {
    grew = false;
    for (const image of images) {
      if (taken.has(image.id)) continue;
      const held = holders.get(image.id);
      if (held?.length) {
        why.set(image.id, `used by ${describeHolders(held)}`);
        continue;
      }
      if (mode === "dangling" && image.tags.length) {
        why.set(image.id, "it has a tag");
        continue;
      }
      if (!(children.get(image.id) ?? []).every((child) => taken.has(child))) {
        why.set(image.id, "other images are built on it");
        continue;
      }
      taken.add(image.id);
      why.delete(image.id);
      take.push(image);
      grew = true;
    }
  }
  return { take, why };
}

/** Bytes stored only for `removed` (chains no other image uses), each chain once. */
async function freedBytes(docker: Docker, all: Listed[], removed: Set<string>): Promise<number> {
  const kept = new Set<string>();
  const freed = new Map<string, number>();
  for (const image of all) {
    let chains: Chain[];
    try {
      chains = await chainsOf(docker, image.id);
    } catch {
      continue; // removed meanwhile
    }
    for (const chain of chains) {
      if (removed.has(image.id)) freed.set(chain.key, chain.sizeBytes);
      else kept.add(chain.key);
    }
  }
  let bytes = 0;
  for (const [key, size] of freed) if (!kept.has(key)) bytes += size;
  return bytes;
}

export async function previewImagePrune(docker: Docker, params: { mode: TImagePruneMode }): Promise<TImagePrunePreview> {
  const [all, holders] = await Promise.all([listAll(docker), holdersByImage(docker)]);
  // Children come first: cutting a huge plan short leaves only parents out, which then simply stay.
  const take = plan(all, holders, params.mode).take.slice(0, IMAGE_PRUNE_MAX);
  const reclaimableBytes = await freedBytes(docker, all, new Set(take.map((i) => i.id)));
  return {
    mode: params.mode,
    images: take.map((i) => ({ id: i.id, tags: i.tags.slice(0, 20), sizeBytes: i.sizeBytes, createdAt: i.createdAt, intermediate: !i.tags.length && all.some((o) => o.parentId === i.id) })),
    reclaimableBytes,
  };
}

export async function pruneImages(docker: Docker, params: { mode: TImagePruneMode; ids: string[] }): Promise<TImagePruneResult> {
  const [all, holders] = await Promise.all([listAll(docker), holdersByImage(docker)]);
  const { take, why } = plan(all, holders, params.mode);
  const requested = new Set(params.ids);
  const known = new Set(all.map((i) => i.id));
  const skipped: TImagePruneResult["skipped"] = [];
  for (const id of requested) {
    if (!known.has(id)) skipped.push({ id, reason: "already gone" });
    else if (!take.some((i) => i.id === id)) skipped.push({ id, reason: why.get(id) ?? "no longer prunable" });
  }
  const removed: TImagePruneResult["removed"] = [];
  // Sizes are read before anything goes (a removed image cannot be inspected any more).
  await Promise.all(all.map((i) => chainsOf(docker, i.id).catch(() => null)));
  for (const image of take) {
    if (!requested.has(image.id)) continue;
    try {
      // Each reference first, as Docker's prune does (an id with several references would need force), then the image.
      // A 404 is fine: Docker drops a repository's digest references with its last tag, and the last reference takes the image.
      const gone = (error: unknown) => {
        if (dockerStatusCode(error) !== 404) throw error;
      };
      for (const ref of [...image.tags, ...image.digests]) await docker.getImage(ref).remove({ noprune: true }).catch(gone);
      await docker.getImage(image.id).remove({ noprune: true }).catch(gone);
      removed.push({ id: image.id, tags: image.tags.slice(0, 20) });
    } catch (error) {
      skipped.push({ id: image.id, reason: dockerErrorMessage(error).slice(0, 1000) });
    }
  }
  const after = new Set((await listAll(docker)).map((i) => i.id));
  const gone = new Set(all.filter((i) => !after.has(i.id)).map((i) => i.id));
  return { removed, skipped, reclaimedBytes: await freedBytes(docker, all, gone) };
}
