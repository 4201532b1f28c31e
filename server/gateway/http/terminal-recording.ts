/**
 * GET /api/terminal-recording?sessionId=…[&download=1]
 *
 * A terminal session's asciicast v2 recording, for the audit page's player and
 * as a `.cast` file the asciinema CLI plays (`asciinema play session.cast`).
 * Whoever may see the session's audit event may replay it; anyone else gets
 * the same 404 as for a session that does not exist. Streamed chunk by chunk.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { resolvePrincipal, type AppDeps } from "../../context.ts";
import { isAppError } from "../../errors.ts";
import { auditScopeFor } from "../../routers/audit.ts";
import { getAuditEvent } from "../../services/audit/query.ts";
import { readRecording } from "../../services/terminal-recording.ts";

const ZRecordingQuery = z.object({ sessionId: z.string().uuid(), download: z.enum(["1", "0"]).optional() });

function plain(res: ServerResponse, status: number, message: string) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(message);
}

export async function handleTerminalRecording(deps: AppDeps, req: IncomingMessage, res: ServerResponse) {
  const principal = await resolvePrincipal(deps, req);
  if (!principal) return plain(res, 401, "Sign in first");
  const query = ZRecordingQuery.safeParse(Object.fromEntries(new URL(req.url ?? "/", "http://x").searchParams));
  if (!query.success) return plain(res, 400, `Bad recording request: ${query.error.issues[0]?.path.join(".")} ${query.error.issues[0]?.message}`);
  const session = await deps.db.terminalSession.findUnique({
    where: { id: query.data.sessionId },
    select: { id: true, auditSeq: true, containerName: true, startedAt: true },
  });
  try {
    if (!session?.auditSeq) throw Object.assign(new Error("not found"), { notFound: true });
    await getAuditEvent(deps.db, session.auditSeq, await auditScopeFor(deps.db, principal));
  } catch (error) {
    if (isAppError(error) || (error as { notFound?: boolean }).notFound) return plain(res, 404, "Recording not found");
    throw error;
  }
  const name = `${session.containerName.replace(/[^\w.-]+/g, "_")}-${session.startedAt.toISOString().replace(/[:.]/g, "-")}.cast`;
  res.writeHead(200, {
    "content-type": "application/x-asciicast; charset=utf-8",
    "cache-control": "no-store",
    ...(query.data.download === "1" ? { "content-disposition": `attachment; filename="${name}"` } : {}),
  });
  for await (const chunk of readRecording(deps.db, session.id)) {
    if (!res.write(chunk)) await new Promise((resolve) => res.once("drain", resolve));
    if (res.destroyed) return;
  }
  res.end();
}
