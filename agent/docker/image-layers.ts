/**
 * An image as the stack of read-only layers it is: each layer (its content
 * digest, `RootFS.Layers`, base first) with the Dockerfile instruction that
 * made it and its size, and which other images on this host share it.
 *
 * Docker's history lists every instruction, newest first; only some of them
 * made a layer. Metadata instructions (ENV, CMD, LABEL, …) are recorded as
 * "#(nop)" entries with no layer, except COPY and ADD, which do make one
 * (classic builder); BuildKit marks nothing, but its metadata entries are
 * 0 bytes and carry "buildkit.dockerfile" comments. The mapping is checked
 * against the layer count and falls back to "one layer per non-empty entry".
 *
 * Other images' layer lists come from inspecting each of them once: image
 * contents never change under an id, so they are cached for the agent's life.
 */
import type Docker from "dockerode";
import type { TImageLayers } from "../protocol.ts";
import { maskHistoryStep } from "../redaction.ts";

const METADATA = /^\/bin\/sh -c #\(nop\)\s+(?!(?:ADD|COPY)\b)/;
const CACHE_MAX = 4_000;
const layersById = new Map<string, string[]>();

async function layersOf(docker: Docker, id: string): Promise<string[]> {
  const cached = layersById.get(id);
  if (cached) return cached;
  const info = await docker.getImage(id).inspect();
  const layers = (info.RootFS?.Layers ?? []).filter((layer): layer is string => typeof layer === "string");
  if (layersById.size >= CACHE_MAX) layersById.delete(layersById.keys().next().value!);
  layersById.set(id, layers);
  return layers;
}

/**
 * Which build steps (oldest first) made the `layerCount` layers: by instruction,
 * else by non-zero size; null when neither matches the layer count.
 */
export function layerMarks(steps: Array<{ createdBy: string; sizeBytes: number; comment: string }>, layerCount: number): boolean[] | null {
  const byInstruction = steps.map((step) => !METADATA.test(step.createdBy) && !(step.sizeBytes === 0 && /buildkit\.dockerfile/.test(step.comment) && /^(ENV|CMD|LABEL|EXPOSE|ENTRYPOINT|WORKDIR|USER|ARG|VOLUME|STOPSIGNAL|HEALTHCHECK|SHELL|ONBUILD|MAINTAINER)\b/.test(step.createdBy)));
  const bySize = steps.map((step) => step.sizeBytes > 0);
  return byInstruction.filter(Boolean).length === layerCount ? byInstruction : bySize.filter(Boolean).length === layerCount ? bySize : null;
}

export type HistoryEntry = { Id?: string; Created?: number; CreatedBy?: string; Size?: number; Comment?: string; Tags?: string[] | null };

export async function imageLayers(docker: Docker, imageRef: string): Promise<TImageLayers> {
  const image = docker.getImage(imageRef);
  const [info, history] = await Promise.all([image.inspect(), image.history() as Promise<HistoryEntry[]>]);
  const layers = (info.RootFS?.Layers ?? []).filter((layer): layer is string => typeof layer === "string");
  layersById.set(info.Id, layers);

  // Oldest first, like RootFS.Layers.
  const steps = [...history].reverse().map((entry) => ({
    createdBy: maskHistoryStep(String(entry.CreatedBy ?? "")).slice(0, 4096),
    created: entry.Created ? new Date(entry.Created * 1000).toISOString() : null,
    sizeBytes: Math.max(0, Math.round(entry.Size ?? 0)),
    comment: String(entry.Comment ?? "").slice(0, 1024),
    makesLayer: false,
  }));
  const marks = layerMarks(steps, layers.length);
  if (marks) marks.forEach((makes, i) => (steps[i]!.makesLayer = makes));

  // Which other images use each layer.
  // Named images first (by name), then untagged ones: the list is capped and the page names the first few,
  // and "shared with berth/base:1" tells more than a dangling image's id.
  const tagsOf = (image: { RepoTags?: string[] | null }) => (image.RepoTags ?? []).filter((tag) => tag !== "<none>:<none>");
  const others = (await docker.listImages({ all: false }))
    .filter((other) => other.Id !== info.Id)
    .sort((a, b) => {
      const [ta, tb] = [tagsOf(a)[0], tagsOf(b)[0]];
      if (ta && tb) return ta.localeCompare(tb);
      return ta ? -1 : tb ? 1 : b.Created - a.Created;
    });
  const sharedWith = new Map<string, Array<{ id: string; tags: string[] }>>();
  for (const other of others) {
    let otherLayers: string[];
    try {
      otherLayers = await layersOf(docker, other.Id);
    } catch {
      continue; // removed meanwhile
    }
    const set = new Set(otherLayers);
    for (const layer of layers) {
      if (!set.has(layer)) continue;
      const list = sharedWith.get(layer) ?? [];
      if (list.length < 50) list.push({ id: other.Id, tags: tagsOf(other).slice(0, 5) });
      sharedWith.set(layer, list);
    }
  }

  let stepIndex = 0;
  const stack = layers.map((digest) => {
    // The instruction that made this layer: the next step marked as making one.
    let step: (typeof steps)[number] | undefined;
    if (marks) {
      while (stepIndex < steps.length && !steps[stepIndex]!.makesLayer) stepIndex++;
      step = steps[stepIndex++];
    }
    return {
      digest,
      sizeBytes: step?.sizeBytes ?? null,
      createdBy: step?.createdBy ?? null,
      sharedWith: sharedWith.get(digest) ?? [],
    };
  });
  return {
    id: info.Id,
    repoTags: (info.RepoTags ?? []).slice(0, 50),
    sizeBytes: Math.max(0, Math.round(info.Size ?? 0)),
    layers: stack,
    history: steps,
  };
}
