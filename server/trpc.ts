/**
 * tRPC is initialised once, here. Procedures are built only from the bases
 * exported below, which carry the guard in their name:
 *   publicProcedure    — anyone (setup status, the current user);
 *   protectedProcedure — any signed-in user;
 *   adminProcedure     — global admins.
 * AppError from services is mapped to a tRPC code with the service's message;
 * any other error becomes a generic INTERNAL_SERVER_ERROR (details are logged).
 */
import { initTRPC, TRPCError } from "@trpc/server";
import superjson from "superjson";
import type { Context } from "./context.ts";
import { type AppErrorCode, isAppError } from "./errors.ts";
import { createLogger } from "./logger.ts";

const log = createLogger("trpc");

const TRPC_CODE: Record<AppErrorCode, TRPCError["code"]> = {
  BAD_REQUEST: "BAD_REQUEST",
  UNAUTHORIZED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  CONFLICT: "CONFLICT",
  PRECONDITION_FAILED: "PRECONDITION_FAILED",
  HOST_OFFLINE: "PRECONDITION_FAILED",
  DOCKER_ERROR: "UNPROCESSABLE_CONTENT",
  TIMEOUT: "TIMEOUT",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

const t = initTRPC.context<Context>().create({
  transformer: superjson,
  errorFormatter({ shape, error }) {
    const appError = isAppError(error.cause) ? error.cause : null;
    return { ...shape, data: { ...shape.data, appCode: appError?.code ?? null, stack: undefined } };
  },
});

/** Turns AppError into TRPCError with the same message; hides everything else. */
const mapAppErrors = t.middleware(async ({ next, path }) => {
  const result = await next();
  if (!result.ok) {
    const cause = result.error.cause;
    if (isAppError(cause)) {
      result.error = new TRPCError({ code: TRPC_CODE[cause.code], message: cause.message, cause });
    } else if (result.error.code === "INTERNAL_SERVER_ERROR") {
      log.error(`procedure ${path} failed`, { error: String(cause ?? result.error) });
      result.error = new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "Something went wrong on the server" });
    }
  }
  return result;
});

const isAuthed = t.middleware(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in first" });
  return next({ ctx: { ...ctx, user: ctx.user } });
});

const isAdmin = t.middleware(({ ctx, next }) => {
  if (ctx.user?.role !== "admin") throw new TRPCError({ code: "FORBIDDEN", message: "Only an admin can do this" });
  return next();
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(mapAppErrors);
export const protectedProcedure = publicProcedure.use(isAuthed);
export const adminProcedure = protectedProcedure.use(isAdmin);
