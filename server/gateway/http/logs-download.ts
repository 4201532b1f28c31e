/**
 * GET /api/logs/download?hostId=…&containerId=…[&since=ISO][&until=ISO]
 *
 * The container's whole log (or since a time) as a text file, streamed from
 * the agent as it reads it: one line per log line, `<timestamp> <stream> <text>`.
 * Same caller resolution and access rule as the live log (`container.logs` on
 * the host); a refusal is recorded in the audit trail.
 *
 * Backpressure end to end: a frame is acknowledged to the agent only once the
 * response took it (`write` returned true, or after `drain`), and the agent
 * sends only a few frames beyond the last ack, pausing Docker's stream
 * otherwise. A slow downloader costs a bounded amount of memory on the
 * server and the agent, whatever the log's size.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { z } from "zod";
import { decideAccess, recordAttempt, type AccessRule } from "../../auth/guard.ts";
import { requestMeta, resolvePrincipal, type AppDeps } from "../../context.ts";
import { isAppError } from "../../errors.ts";
import { createLogger } from "../../logger.ts";
import type { OpenStream } from "../../services/agent-link.ts";
import { openContainerLogStream } from "../../services/logs.ts";

const log = createLogger("logs-download");
const RULE: AccessRule = { scope: "host", permission: "container.logs" };
const STATUS = { UNAUTHORIZED: 401, FORBIDDEN: 403, BAD_REQUEST: 400 } as const;
const ERROR_STATUS: Partial<Record<string, number>> = { NOT_FOUND: 404, HOST_OFFLINE: 503, CONFLICT: 429, PRECONDITION_FAILED: 503 };

const ZDownloadQuery = z.object({
  hostId: z.string().min(1).max(128),
  containerId: z.string().min(1).max(128),
  since: z.string().datetime({ offset: true }).optional(),
  until: z.string().datetime({ offset: true }).optional(),
});

function plain(res: ServerResponse, status: number, message: string) {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(message);
}

export async function handleLogsDownload(deps: AppDeps, req: IncomingMessage, res: ServerResponse) {
  const principal = await resolvePrincipal(deps, req);
  const query = ZDownloadQuery.safeParse(Object.fromEntries(new URL(req.url ?? "/", "http://x").searchParams));
  if (!query.success) return plain(res, 400, `Bad download request: ${query.error.issues[0]?.path.join(".")} ${query.error.issues[0]?.message}`);
  const input = query.data;
  const decision = await decideAccess(deps.db, principal, RULE, input);
  if (!decision.ok) {
    if (decision.code === "FORBIDDEN") {
      const request = requestMeta(req, deps.env);
      await recordAttempt({ ...deps, principal, request }, "containers.logs.download", input, "DENIED", decision.message, "could not record a denied download");
    }
    return plain(res, STATUS[decision.code], decision.message);
  }

  let headersSent = false;
  let stream: OpenStream | null = null;
  let tookSeq = 0; // the last frame the response took
  let waitingSeq = 0; // a frame written while the response was full: it is taken on drain
  res.on("drain", () => {
    if (!waitingSeq) return;
    tookSeq = waitingSeq;
    waitingSeq = 0;
    stream?.ack(tookSeq);
  });
  const done = new Promise<void>((resolve) => {
    openContainerLogStream({
      db: deps.db,
      link: deps.link,
      quota: deps.logStreams,
      userId: principal!.userId,
      hostId: input.hostId,
      containerId: input.containerId,
      tail: null,
      since: input.since ?? null,
      until: input.until ?? null,
      follow: false,
      onLines: (lines, seq) => {
        if (!headersSent) {
          headersSent = true;
          res.writeHead(200, {
            "content-type": "text/plain; charset=utf-8",
            "content-disposition": `attachment; filename="${input.containerId.slice(0, 12)}-${new Date().toISOString().replace(/[:.]/g, "-")}.log"`,
            "cache-control": "no-store",
          });
        }
        if (res.write(lines.map((l) => `${l.ts} ${l.stream} ${l.text}\n`).join(""))) {
          tookSeq = seq;
          stream?.ack(seq);
        } else waitingSeq = seq;
      },
      onEnd: (error) => {
        if (!headersSent) {
          if (error) plain(res, 502, error.message);
          else res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" }).end();
        } else {
          // Mid-file failure: say so in the file rather than cut it silently.
          res.end(error ? `\n[Berth: the log stopped early: ${error.message}]\n` : undefined);
        }
        resolve();
      },
    })
      // The browser gave up (closed the tab, cancelled the download): stop reading on the agent.
      .then((opened) => {
        stream = opened;
        // Frames that arrived before the agent's answer are acknowledged now.
        if (tookSeq) opened.ack(tookSeq);
        if (res.closed) opened.close();
        else res.once("close", () => opened.close());
      })
      .catch((error: unknown) => {
        if (isAppError(error)) plain(res, ERROR_STATUS[error.code] ?? 502, error.message);
        else {
          log.error("log download failed", { error: String(error) });
          plain(res, 500, "Something went wrong on the server");
        }
        resolve();
      });
  });
  await done;
}
