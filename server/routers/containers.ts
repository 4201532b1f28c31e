import { z } from "zod";
import { RESTART_POLICIES, ZContainerCreateSpec, ZContainerName, ZSignal } from "../../agent/protocol.ts";
import { parseByteSize } from "../../agent/units.ts";
import { BULK_ACTIONS, BULK_MAX_ITEMS, runBulkAction, runLifecycleAction, type TLifecycleAction } from "../services/container-lifecycle.ts";
import { containerSpecForEdit, createContainer, duplicateContainer, recreateContainer } from "../services/container-create.ts";
import { getContainer, listContainers, listImages, runContainerAction } from "../services/containers.ts";
import { listFleetContainers, ZFleetQuery } from "../services/fleet-containers.ts";
import { imageLayers } from "../services/images.ts";
import { previewImagePrune, pruneImages, removeImage, tagImage, untagImage } from "../services/image-manage.ts";
import { IMAGE_PRUNE_MAX, IMAGE_PRUNE_MODES } from "../../agent/protocol.ts";
import { authedProcedure, hostItemsProcedure, hostProcedure, router } from "../trpc.ts";
import { containerLogProcedures } from "./container-logs.ts";
import { containerPageProcedures } from "./container-page.ts";
import { imageViewProcedures } from "./image-views.ts";
import { ZHostIdInput } from "./hosts.ts";

export const ZContainerInput = ZHostIdInput.extend({ containerId: z.string().min(12).max(128) });
const ZTimeoutSeconds = z.number().int().min(0).max(600).optional();

/** A size as Docker's CLI takes it ("512m", "1g") or plain bytes. */
const ZByteSize = z.union([
  z.number().int().min(-1),
  z.string().max(32).transform((text, ctx) => {
    const bytes = parseByteSize(text);
    if (bytes === null) {
      ctx.addIssue({ code: "custom", message: `"${text}" is not a size: use bytes or a number with b, k, m or g (e.g. 512m)` });
      return z.NEVER;
    }
    return bytes;
  }),
]);

export const ZUpdateContainerInput = ZContainerInput.extend({
  memory: ZByteSize.refine((n) => n >= 0, "memory cannot be negative").optional(),
  /** Memory plus swap; -1 = unlimited swap. */
  memorySwap: ZByteSize.optional(),
  cpuShares: z.number().int().min(0).max(262_144).optional(),
  cpuPeriod: z.number().int().min(1000).max(1_000_000).optional(),
  cpuQuota: z.number().int().min(-1).max(2 ** 40).optional(),
  /** CPUs as `docker update --cpus` takes them (e.g. 1.5). */
  cpus: z.number().min(0).max(1024).optional(),
  restartPolicy: z.object({ name: z.enum(RESTART_POLICIES), maximumRetryCount: z.number().int().min(0).max(1000).optional() }).optional(),
});

const ZBulkInput = z.object({
  items: z
    .array(ZContainerInput)
    .min(1)
    .max(BULK_MAX_ITEMS)
    .refine((items) => new Set(items.map((i) => `${i.hostId}/${i.containerId}`)).size === items.length, "the selection names a container twice"),
  action: z.enum(BULK_ACTIONS),
  timeoutSeconds: ZTimeoutSeconds,
  signal: ZSignal.optional(),
  force: z.boolean().optional(),
  removeVolumes: z.boolean().optional(),
});

function bulkRequest(input: z.infer<typeof ZBulkInput>): TLifecycleAction & { action: (typeof BULK_ACTIONS)[number] } {
  switch (input.action) {
    case "stop":
    case "restart":
      return { action: input.action, timeoutSeconds: input.timeoutSeconds };
    case "kill":
      return { action: "kill", signal: input.signal ?? "SIGKILL" };
    case "remove":
      return { action: "remove", force: input.force ?? false, removeVolumes: input.removeVolumes ?? false };
    default:
      return { action: input.action };
  }
}
export const ZCreateContainerInput = ZHostIdInput.extend({ spec: ZContainerCreateSpec });

export const containersRouter = router({
  ...containerPageProcedures,
  ...containerLogProcedures,
  list: hostProcedure("host.view").input(ZHostIdInput).query(({ ctx, input }) => listContainers(ctx.db, input.hostId)),

  byId: hostProcedure("host.view")
    .input(ZContainerInput)
    .query(({ ctx, input }) => getContainer(ctx.db, input.hostId, input.containerId)),

  /** Every container on every host the caller may see: filtered, sorted, one keyset page at a time. */
  fleet: authedProcedure.input(ZFleetQuery).query(({ ctx, input }) => listFleetContainers({ db: ctx.db, principal: ctx.principal, query: input })),

  start: hostProcedure("container.operate")
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runContainerAction({ db: ctx.db, link: ctx.link, ...input, action: "start" })),

  stop: hostProcedure("container.operate")
    .input(ZContainerInput.extend({ timeoutSeconds: ZTimeoutSeconds }))
    .mutation(({ ctx, input: { timeoutSeconds, ...ref } }) => runLifecycleAction({ db: ctx.db, link: ctx.link, ...ref, request: { action: "stop", timeoutSeconds } })),

  restart: hostProcedure("container.operate")
    .input(ZContainerInput.extend({ timeoutSeconds: ZTimeoutSeconds }))
    .mutation(({ ctx, input: { timeoutSeconds, ...ref } }) => runLifecycleAction({ db: ctx.db, link: ctx.link, ...ref, request: { action: "restart", timeoutSeconds } })),

  kill: hostProcedure("container.operate")
    .input(ZContainerInput.extend({ signal: ZSignal.default("SIGKILL") }))
    .mutation(({ ctx, input: { signal, ...ref } }) => runLifecycleAction({ db: ctx.db, link: ctx.link, ...ref, request: { action: "kill", signal } })),

  pause: hostProcedure("container.operate")
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runLifecycleAction({ db: ctx.db, link: ctx.link, ...input, request: { action: "pause" } })),

  unpause: hostProcedure("container.operate")
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runLifecycleAction({ db: ctx.db, link: ctx.link, ...input, request: { action: "unpause" } })),

  rename: hostProcedure("container.operate")
    .input(ZContainerInput.extend({ name: ZContainerName }))
    .mutation(({ ctx, input: { name, ...ref } }) => runLifecycleAction({ db: ctx.db, link: ctx.link, ...ref, request: { action: "rename", name } })),

  remove: hostProcedure("container.create")
    .input(ZContainerInput.extend({ force: z.boolean().default(false), removeVolumes: z.boolean().default(false) }))
    .mutation(({ ctx, input: { force, removeVolumes, ...ref } }) =>
      runLifecycleAction({ db: ctx.db, link: ctx.link, ...ref, request: { action: "remove", force, removeVolumes } }),
    ),

  update: hostProcedure("container.create")
    .input(ZUpdateContainerInput)
    .mutation(({ ctx, input: { hostId, containerId, memory, memorySwap, cpus, restartPolicy, ...cpu } }) =>
      runLifecycleAction({
        db: ctx.db,
        link: ctx.link,
        hostId,
        containerId,
        request: {
          action: "update",
          changes: { ...cpu, memoryBytes: memory, memorySwapBytes: memorySwap, nanoCpus: cpus === undefined ? undefined : Math.round(cpus * 1e9), restartPolicy },
        },
      }),
    ),

  /** One action on a selection spanning hosts; every item is authorized on its own host and answered on its own. */
  bulk: hostItemsProcedure.input(ZBulkInput).mutation(({ ctx, input }) => runBulkAction({ ctx, items: input.items, request: bulkRequest(input) })),

  /** `docker run` from a typed spec; root-equivalent options also need container.privileged (checked in the service). */
  create: hostProcedure("container.create")
    .input(ZCreateContainerInput)
    .mutation(({ ctx, input }) => createContainer({ db: ctx.db, link: ctx.link, principal: ctx.principal, ...input })),

  /** "Create another like this": the container's spec under a new name, host ports random. */
  duplicate: hostProcedure("container.create")
    .input(ZContainerInput.extend({ name: ZContainerName.optional() }))
    .mutation(({ ctx, input }) => duplicateContainer({ db: ctx.db, link: ctx.link, principal: ctx.principal, ...input })),

  /** Replace the container with one made from a changed spec; rolls back when the new one does not come up. */
  recreate: hostProcedure("container.create")
    .input(ZContainerInput.extend({ spec: ZContainerCreateSpec, watchMs: z.number().int().min(0).max(60_000).optional() }))
    .mutation(({ ctx, input }) => recreateContainer({ db: ctx.db, link: ctx.link, principal: ctx.principal, ...input })),

  /** The container's create spec for "edit & recreate", secrets masked (sent back masked = keep them). */
  spec: hostProcedure("container.create")
    .input(ZContainerInput)
    .output(z.object({ name: z.string(), state: z.string(), spec: ZContainerCreateSpec }))
    .query(({ ctx, input }) => containerSpecForEdit({ db: ctx.db, link: ctx.link, ...input })),
});

const ZImageId = z.string().min(1).max(128).regex(/^[^\s\0]+$/, "an image id");
const ZImageInput = ZHostIdInput.extend({ imageId: ZImageId });
/** Parsed by Docker's rules in the service (a clear message), so only its size and shape here. */
const ZImageReferenceText = z.string().trim().min(1).max(512);

export const imagesRouter = router({
  ...imageViewProcedures,
  list: hostProcedure("host.view").input(ZHostIdInput).query(({ ctx, input }) => listImages(ctx.db, input.hostId)),
  /** The image's read-only layers, base first, and which other images on the host share each one. */
  layers: hostProcedure("host.view")
    .input(ZHostIdInput.extend({ imageId: z.string().min(1).max(128) }))
    .query(({ ctx, input }) => imageLayers({ db: ctx.db, link: ctx.link, hostId: input.hostId, imageId: input.imageId })),
  /**
   * `docker tag`. Needs image.remove, not image.pull: a tag can be moved from the image it named
   * to any local one (Docker moves it silently), re-pointing a name others run — an untag in effect.
   */
  tag: hostProcedure("image.remove")
    .input(ZImageInput.extend({ reference: ZImageReferenceText }))
    .mutation(({ ctx, input }) => tagImage({ db: ctx.db, link: ctx.link, ...input })),
  /** `docker rmi --no-prune` of one tag: the image stays while other tags name it. */
  untag: hostProcedure("image.remove")
    .input(ZHostIdInput.extend({ reference: ZImageReferenceText }))
    .mutation(({ ctx, input }) => untagImage({ link: ctx.link, ...input })),
  /** `docker rmi [-f]`; without force, an image a container uses is refused naming the containers. */
  remove: hostProcedure("image.remove")
    .input(ZImageInput.extend({ force: z.boolean().default(false) }))
    .mutation(({ ctx, input }) => removeImage({ link: ctx.link, ...input })),
  /** What a prune would remove and the bytes it frees (a query: nothing changes). */
  prunePreview: hostProcedure("image.remove")
    .input(ZHostIdInput.extend({ mode: z.enum(IMAGE_PRUNE_MODES) }))
    .query(({ ctx, input }) => previewImagePrune({ link: ctx.link, ...input })),
  /** Removes exactly the previewed images still prunable (the ids shown); audited by the service with count and bytes. */
  prune: hostProcedure("image.remove")
    .meta({ audit: false })
    .input(ZHostIdInput.extend({ mode: z.enum(IMAGE_PRUNE_MODES), ids: z.array(ZImageId).min(1).max(IMAGE_PRUNE_MAX) }))
    .mutation(({ ctx, input }) => pruneImages({ db: ctx.db, bus: ctx.bus, link: ctx.link, principal: ctx.principal, request: ctx.request, ...input })),
});
