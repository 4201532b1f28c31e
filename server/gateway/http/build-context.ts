/**
 * POST /api/build-context?hostId=…&format=tar|zip|folder
 *
 * Uploads a build context for the caller's next build on that host (see
 * services/build-contexts.ts): a tar or zip as the raw body, or a folder as
 * multipart form data. Needs `image.build` on the host, like the build itself;
 * a refusal is recorded in the audit trail. Answers JSON
 * `{ contextId, bytes, files, expiresAt }`, 413 over BERTH_BUILD_CONTEXT_MAX_MB.
 *
 * With `&contextId=…` (a build's `uploadContextId`), the body is the plain tar
 * that build announced, forwarded to the host while it arrives: the answer
 * (`{ contextId, bytes, files }`) comes once the build took all of it; 404 if
 * no build of the caller's on that host waits for it, 409 if the build ended
 * first (cancelled, failed), 400 if the tar is bad or not the size announced.
 *
 * The session cookie is SameSite=Lax (no cross-site POST carries it); a
 * request that names another site as its Origin is refused as well.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { decideAccess, recordAttempt, type AccessRule } from "../../auth/guard.ts";
import { requestMeta, resolvePrincipal, type AppDeps } from "../../context.ts";
import { isAppError, type AppErrorCode } from "../../errors.ts";
import { createLogger } from "../../logger.ts";
import { BUILD_CONTEXT_FORMATS, ContextTooLarge, TooManyUploads } from "../../services/build-contexts.ts";

const log = createLogger("build-context");
const RULE: AccessRule = { scope: "host", permission: "image.build" };
const STATUS = { UNAUTHORIZED: 401, FORBIDDEN: 403, BAD_REQUEST: 400 } as const;

const ZUploadQuery = z.object({
  hostId: z.string().min(1).max(128),
  format: z.enum(BUILD_CONTEXT_FORMATS).default("tar"),
  contextId: z.string().uuid().optional(),
});
const ERROR_STATUS: Partial<Record<AppErrorCode, number>> = { NOT_FOUND: 404, CONFLICT: 409, TIMEOUT: 408 };

function answer(req: IncomingMessage, res: ServerResponse, status: number, body: unknown) {
  if (res.headersSent) return;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json", "cache-control": "no-store", ...(req.complete ? {} : { connection: "close" }) });
  res.end(text);
  // An upload refused before it was read is not read at all.
  if (!req.complete) res.once("finish", () => req.destroy());
}

function sameOrigin(req: IncomingMessage, publicUrl: string): boolean {
  const origin = req.headers.origin;
  if (!origin) return true;
  try {
    const parsed = new URL(origin);
    return parsed.host === req.headers.host || parsed.origin === new URL(publicUrl).origin;
  } catch {
    return false;
  }
}

export async function handleBuildContextUpload(deps: AppDeps, req: IncomingMessage, res: ServerResponse) {
  const principal = await resolvePrincipal(deps, req);
  const query = ZUploadQuery.safeParse(Object.fromEntries(new URL(req.url ?? "/", "http://x").searchParams));
  if (!query.success) return answer(req, res, 400, `Bad upload: ${query.error.issues[0]?.path.join(".")} ${query.error.issues[0]?.message}`);
  const input = query.data;
  const decision = await decideAccess(deps.db, principal, RULE, input);
  if (!decision.ok) {
    if (decision.code === "FORBIDDEN") {
      await recordAttempt({ ...deps, principal, request: requestMeta(req, deps.env) }, "images.build.context", input, "DENIED", decision.message, "could not record a denied upload");
    }
    return answer(req, res, STATUS[decision.code], decision.message);
  }
  if (!sameOrigin(req, deps.env.publicUrl)) return answer(req, res, 403, "Cross-site upload refused");
  if (input.contextId) {
    if (input.format !== "tar") return answer(req, res, 400, "A context uploaded during its build is a plain tar");
    try {
      const taken = await deps.buildContexts.attach({ contextId: input.contextId, userId: principal!.userId, hostId: input.hostId, req });
      return answer(req, res, 200, { contextId: input.contextId, format: "tar", bytes: taken.bytes, files: taken.files });
    } catch (error) {
      if (isAppError(error)) return answer(req, res, ERROR_STATUS[error.code] ?? 400, error.message);
      log.error("build context upload failed", { error: String(error) });
      return answer(req, res, 500, "Something went wrong on the server");
    }
  }
  try {
    const stored = await deps.buildContexts.receive({ userId: principal!.userId, hostId: input.hostId, format: input.format, req });
    answer(req, res, 200, { contextId: stored.contextId, format: stored.format, bytes: stored.bytes, files: stored.files, expiresAt: new Date(stored.expiresAt).toISOString() });
  } catch (error) {
    if (error instanceof ContextTooLarge) return answer(req, res, 413, error.message);
    if (error instanceof TooManyUploads) return answer(req, res, 429, error.message);
    if (isAppError(error)) return answer(req, res, 400, error.message);
    log.error("build context upload failed", { error: String(error) });
    answer(req, res, 500, "Something went wrong on the server");
  }
}
