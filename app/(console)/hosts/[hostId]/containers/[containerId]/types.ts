import type { RouterOutputs } from "../../../../../_lib/trpc";

/** One container as the page reads it (`containers.byId`: the list's fields plus the masked inspect). */
export type ContainerDetail = RouterOutputs["containers"]["byId"];
