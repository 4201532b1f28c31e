/**
 * The container page's reads (processes, writable layer, history) and the
 * commit action. Spread into the `containers` router (server/routers/containers.ts).
 */
import { z } from "zod";
import { ZContainerCommitParams } from "../../agent/protocol.ts";
import { listContainerHistory, listRemovedContainers } from "../services/container-history.ts";
import { commitContainer, containerChanges, containerLayerSize, containerProcesses } from "../services/container-layer.ts";
import { hostProcedure } from "../trpc.ts";
import { ZHostIdInput } from "./hosts.ts";

const ZContainerRefInput = ZHostIdInput.extend({ containerId: z.string().min(12).max(128) });

/** The agent's commit parameters, plus the host: one definition of what a commit may carry. */
export const ZCommitInput = ZContainerCommitParams.extend(ZHostIdInput.shape);
export type TCommitInput = z.input<typeof ZCommitInput>;

const ZHistoryEntry = z.object({
  id: z.string(),
  action: z.string(),
  at: z.date(),
  name: z.string(),
  image: z.string(),
  exitCode: z.number().int().nullable(),
  signal: z.string().nullable(),
  health: z.string().nullable(),
  oldName: z.string().nullable(),
});

export const containerPageProcedures = {
  /** `docker top` (command lines masked like inspect). */
  top: hostProcedure("host.view")
    .input(ZContainerRefInput)
    .query(({ ctx, input }) => containerProcesses({ db: ctx.db, link: ctx.link, ...input })),

  /** `docker diff`: the writable layer's added, changed and deleted paths. */
  changes: hostProcedure("host.view")
    .input(ZContainerRefInput)
    .query(({ ctx, input }) => containerChanges({ db: ctx.db, link: ctx.link, ...input })),

  /** The writable layer's size against the image underneath. */
  layerSize: hostProcedure("host.view")
    .input(ZContainerRefInput)
    .query(({ ctx, input }) => containerLayerSize({ db: ctx.db, link: ctx.link, ...input })),

  /** The lifecycle timeline, newest first; also for a container that was removed. */
  history: hostProcedure("host.view")
    .input(ZContainerRefInput.extend({ limit: z.number().int().min(1).max(500).optional() }))
    .output(z.array(ZHistoryEntry))
    .query(({ ctx, input }) => listContainerHistory({ db: ctx.db, ...input })),

  /** Removed containers of the host whose history was kept (newest first). */
  removed: hostProcedure("host.view")
    .input(ZHostIdInput)
    .output(z.array(z.object({ containerId: z.string(), name: z.string(), image: z.string(), lastEventAt: z.date() })))
    .query(({ ctx, input }) => listRemovedContainers({ db: ctx.db, hostId: input.hostId })),

  /** `docker commit` to `repository:tag` (audited by the mutation middleware). */
  commit: hostProcedure("container.commit")
    .input(ZCommitInput)
    .mutation(({ ctx, input }) => {
      const { hostId, containerId, ...commit } = input;
      return commitContainer({ db: ctx.db, link: ctx.link, hostId, containerId, commit });
    }),
};
