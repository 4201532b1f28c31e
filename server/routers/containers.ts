import { z } from "zod";
import { getContainer, listContainers, listImages, runContainerAction } from "../services/containers.ts";
import { protectedProcedure, router } from "../trpc.ts";
import { ZHostIdInput } from "./hosts.ts";

export const ZContainerInput = ZHostIdInput.extend({ containerId: z.string().min(12).max(128) });

export const containersRouter = router({
  list: protectedProcedure.input(ZHostIdInput).query(({ ctx, input }) => listContainers(ctx.db, input.hostId)),

  byId: protectedProcedure
    .input(ZContainerInput)
    .query(({ ctx, input }) => getContainer(ctx.db, input.hostId, input.containerId)),

  start: protectedProcedure
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runContainerAction({ db: ctx.db, link: ctx.link, ...input, action: "start" })),

  stop: protectedProcedure
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runContainerAction({ db: ctx.db, link: ctx.link, ...input, action: "stop" })),

  restart: protectedProcedure
    .input(ZContainerInput)
    .mutation(({ ctx, input }) => runContainerAction({ db: ctx.db, link: ctx.link, ...input, action: "restart" })),
});

export const imagesRouter = router({
  list: protectedProcedure.input(ZHostIdInput).query(({ ctx, input }) => listImages(ctx.db, input.hostId)),
});
