/**
 * GET /api/audit/export?format=csv|ndjson&filter=<json of ZAuditFilter>
 *
 * Streams the reviewer's current filter as CSV or NDJSON, page by page with
 * keyset pagination, waiting for the socket to drain between writes: memory
 * stays flat whether the result is ten rows or a million. Same access rules as
 * the audit list (session cookie or API token; only events the caller may see).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { once } from "node:events";
import { z } from "zod";
import { requestMeta, resolvePrincipal, type AppDeps } from "../../context.ts";
import { auditScopeFor } from "../../routers/audit.ts";
import { appendAuditEvent } from "../../services/audit/append.ts";
import { iterateAuditEvents, ZAuditFilter, type AuditEventRow } from "../../services/audit/query.ts";
import { auditActor } from "../../auth/guard.ts";

const ZExportQuery = z.object({
  format: z.enum(["csv", "ndjson"]).default("csv"),
  filter: z
    .string()
    .max(4000)
    .default("{}")
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "filter must be JSON" });
        return z.NEVER;
      }
    })
    .pipe(ZAuditFilter),
});

const COLUMNS = ["seq", "at", "outcome", "action", "actorType", "actorLabel", "actorId", "teamId", "hostId", "hostName", "target", "targetName", "error", "ip", "userAgent", "requestId", "params", "prevHash", "hash"] as const;

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? "" : value instanceof Date ? value.toISOString() : typeof value === "object" ? JSON.stringify(value) : String(value);
  // Quote always; neutralise spreadsheet formulas (CSV injection).
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return `"${safe.replace(/"/g, '""')}"`;
}

function toJson(event: AuditEventRow) {
  return { ...event, seq: event.seq.toString(), at: event.at.toISOString() };
}

export async function handleAuditExport(deps: AppDeps, req: IncomingMessage, res: ServerResponse) {
  const principal = await resolvePrincipal(deps, req);
  if (!principal) return void res.writeHead(401, { "content-type": "text/plain" }).end("Sign in first");
  const query = ZExportQuery.safeParse(Object.fromEntries(new URL(req.url ?? "/", "http://x").searchParams));
  if (!query.success) return void res.writeHead(400, { "content-type": "text/plain" }).end(`Bad export request: ${query.error.issues[0]?.message}`);
  const { format, filter } = query.data;
  const scope = await auditScopeFor(deps.db, principal);
  await appendAuditEvent({
    db: deps.db,
    bus: deps.bus,
    event: { actor: auditActor(principal), action: "audit.export", outcome: "SUCCESS", params: { format, filter }, request: requestMeta(req, deps.env) },
  });

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  res.writeHead(200, {
    "content-type": format === "csv" ? "text/csv; charset=utf-8" : "application/x-ndjson",
    "content-disposition": `attachment; filename="berth-audit-${stamp}.${format}"`,
    "cache-control": "no-store",
  });
  const write = async (chunk: string) => {
    if (!res.write(chunk)) await once(res, "drain");
  };
  if (format === "csv") await write(COLUMNS.join(",") + "\n");
  let buffer = "";
  for await (const event of iterateAuditEvents({ db: deps.db, filter, scope, batchSize: 1000 })) {
    if (res.destroyed) return;
    buffer += format === "csv" ? COLUMNS.map((c) => csvCell(event[c])).join(",") + "\n" : JSON.stringify(toJson(event)) + "\n";
    if (buffer.length > 64 * 1024) {
      await write(buffer);
      buffer = "";
    }
  }
  if (buffer) await write(buffer);
  res.end();
}
