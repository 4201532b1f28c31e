/**
 * The plain HTTP routes Berth serves besides tRPC (/api/trpc), better-auth
 * (/api/auth) and the Next.js pages. One table, so that server/main.ts
 * dispatches from it and the authorization matrix enumerates it: a route added
 * here without a row in test/policy/policy.ts fails that test.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { AppDeps } from "../../context.ts";
import { handleAuditExport } from "./audit-export.ts";
import { handleBuildContextUpload } from "./build-context.ts";
import { handleLogsDownload } from "./logs-download.ts";
import { handleTerminalRecording } from "./terminal-recording.ts";

export type HttpRoute = {
  method: "GET" | "POST";
  /** Matched against the request path (query string excluded), exactly. */
  path: string;
  handle(deps: AppDeps, req: IncomingMessage, res: ServerResponse): Promise<void>;
};

export const httpRoutes: readonly HttpRoute[] = [
  { method: "GET", path: "/api/audit/export", handle: handleAuditExport },
  { method: "GET", path: "/api/logs/download", handle: handleLogsDownload },
  { method: "GET", path: "/api/terminal-recording", handle: handleTerminalRecording },
  { method: "POST", path: "/api/build-context", handle: handleBuildContextUpload },
];

/** The route serving this request, if any (a known path with another method answers 405). */
export function matchHttpRoute(req: IncomingMessage): HttpRoute | "method-not-allowed" | null {
  const pathname = (req.url ?? "/").split("?")[0];
  const routes = httpRoutes.filter((route) => route.path === pathname);
  if (routes.length === 0) return null;
  return routes.find((route) => route.method === req.method) ?? "method-not-allowed";
}
