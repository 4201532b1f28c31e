import { z } from "zod";
import { getContainer, listContainers, listImages, runContainerAction } from "../services/containers.ts";
import { hostProcedure, router } from "../trpc.ts";
import { containerPageProcedures } from "./container-page.ts";
import { ZHostIdInput } from "./hosts.ts";

export const ZContainerInput = ZHostIdInput.extend({ containerId: z.string().min(12).max(128) });

export const containersRouter = router({
  ...containerPageProcedures,
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
});

export const imagesRouter = router({
  list: hostProcedure("host.view").input(ZHostIdInput).query(({ ctx, input }) => listImages(ctx.db, input.hostId)),
});
