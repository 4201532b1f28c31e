/**
 * The typed tRPC hooks for the browser. Only the router's TYPE crosses from
 * server/ into the bundle; the import is erased at build time.
 */
import { TRPCClientError } from "@trpc/client";
import type { inferRouterOutputs } from "@trpc/server";
import { createTRPCContext } from "@trpc/tanstack-react-query";
import type { AppRouter } from "../../server/routers/_app.ts";

export const { TRPCProvider, useTRPC, useTRPCClient } = createTRPCContext<AppRouter>();

export type RouterOutputs = inferRouterOutputs<AppRouter>;
export type Host = RouterOutputs["hosts"]["list"][number];
export type HostStatus = Host["status"];
export type Container = RouterOutputs["containers"]["list"][number];
export type Image = RouterOutputs["images"]["list"][number];
export type FleetContainer = RouterOutputs["containers"]["fleet"]["containers"][number];
export type BulkResult = RouterOutputs["containers"]["bulk"][number];
export type JoinInstructions = RouterOutputs["hosts"]["createJoinToken"];

/** The tRPC error code of a failed call ("UNAUTHORIZED", "NOT_FOUND"...), if it is one. */
export function trpcErrorCode(error: unknown): string | null {
  if (error instanceof TRPCClientError) {
    const data = error.data as { code?: string } | undefined;
    return data?.code ?? null;
  }
  return null;
}

/** The message to show a person: the server's own text for tRPC errors. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error && error.message) return error.message;
  return "Something went wrong";
}

export type AuditEvent = RouterOutputs["audit"]["list"]["events"][number];
export type VerifyResult = RouterOutputs["audit"]["verify"];
export type UserRow = RouterOutputs["users"]["list"][number];
export type Team = RouterOutputs["teams"]["list"][number];
export type TeamDetail = RouterOutputs["teams"]["byId"];
export type Role = RouterOutputs["roles"]["list"][number];
export type SessionRow = RouterOutputs["account"]["sessions"][number];
export type ApiToken = RouterOutputs["account"]["tokens"][number];
