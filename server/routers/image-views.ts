/** Images across the fleet and their update checks (spread into the `images` router). */
import { z } from "zod";
import { checkImageUpdates } from "../services/image-updates.ts";
import { listFleetImages, ZFleetImagesQuery } from "../services/fleet-images.ts";
import { authedProcedure, hostProcedure } from "../trpc.ts";
import { ZHostIdInput } from "./hosts.ts";

export const imageViewProcedures = {
  /** One row per image id over every host the caller may see, with its hosts, containers and update state. */
  fleet: authedProcedure.input(ZFleetImagesQuery).query(({ ctx, input }) => listFleetImages({ db: ctx.db, principal: ctx.principal, query: input })),

  /**
   * Asks the registries whether the host's pulled tags (or one image's) still
   * name what the host has. host.view: it reads digests only, changes nothing
   * on the host, and its result is shown to everyone who sees the host.
   */
  checkUpdates: hostProcedure("host.view")
    .input(ZHostIdInput.extend({ imageId: z.string().min(1).max(128).optional() }))
    .mutation(({ ctx, input }) => checkImageUpdates({ db: ctx.db, secrets: ctx.secrets, bus: ctx.bus, hostId: input.hostId, imageId: input.imageId })),
};
