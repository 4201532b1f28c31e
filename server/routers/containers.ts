import { z } from "zod";
import { ZContainerCreateSpec, ZContainerName } from "../../agent/protocol.ts";
import { containerSpecForEdit, createContainer, duplicateContainer, recreateContainer } from "../services/container-create.ts";
import { getContainer, listContainers, listImages, runContainerAction } from "../services/containers.ts";
import { hostProcedure, router } from "../trpc.ts";
import { ZHostIdInput } from "./hosts.ts";

export const ZContainerInput = ZHostIdInput.extend({ containerId: z.string().min(12).max(128) });
export const ZCreateContainerInput = ZHostIdInput.extend({ spec: ZContainerCreateSpec });

export const containersRouter = router({
  list: hostProcedure("host.view").input(ZHostIdInput).query(({ ctx, input }) => listContainers(ctx.db, input.hostId)),

  byId: hostProcedure("host.view")
    .input(ZContainerInput)
    .query(({ ctx, input }) => getContainer(ctx.db, input.hostId, input.containerId)),

  start: hostProcedure("container.operate")
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runContainerAction({ db: ctx.db, link: ctx.link, ...input, action: "start" })),

  stop: hostProcedure("container.operate")
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runContainerAction({ db: ctx.db, link: ctx.link, ...input, action: "stop" })),

  restart: hostProcedure("container.operate")
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runContainerAction({ db: ctx.db, link: ctx.link, ...input, action: "restart" })),

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

export const imagesRouter = router({
  list: hostProcedure("host.view").input(ZHostIdInput).query(({ ctx, input }) => listImages(ctx.db, input.hostId)),
});
