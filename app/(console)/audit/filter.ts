/**
 * The audit review filter as it lives in the URL (so a filtered view can be
 * bookmarked and shared), and its translations: to the server's ZAuditFilter
 * input, to the export link, and to a client-side test for live events.
 */
import type { AuditEvent } from "../../_lib/trpc";

export const OUTCOMES = ["SUCCESS", "FAILURE", "DENIED"] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** Field values as typed: datetime-local strings for the time range, "" for "any". */
export type AuditFilterState = {
  from: string;
  to: string;
  actor: string;
  teamId: string;
  hostId: string;
  action: string;
  outcome: Outcome | "";
  q: string;
};

export const EMPTY_FILTER: AuditFilterState = { from: "", to: "", actor: "", teamId: "", hostId: "", action: "", outcome: "", q: "" };

/** URL query keys, short and readable: ?outcome=DENIED&actor=ana@… */
const PARAM: Record<keyof AuditFilterState, string> = {
  from: "from",
  to: "to",
  actor: "actor",
  teamId: "team",
  hostId: "host",
  action: "action",
  outcome: "outcome",
  q: "q",
};

export function filterFromParams(params: URLSearchParams): AuditFilterState {
  const get = (key: keyof AuditFilterState) => (params.get(PARAM[key]) ?? "").slice(0, 200);
  const outcome = get("outcome").toUpperCase();
  return {
    from: get("from"),
    to: get("to"),
    actor: get("actor"),
    teamId: get("teamId"),
    hostId: get("hostId"),
    action: get("action"),
    outcome: (OUTCOMES as readonly string[]).includes(outcome) ? (outcome as Outcome) : "",
    q: get("q"),
  };
}

/** Writes the filter into `params` (other keys, like the open event, are kept). */
export function filterToParams(filter: AuditFilterState, params: URLSearchParams): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const key of Object.keys(PARAM) as Array<keyof AuditFilterState>) {
    const value = filter[key].trim();
    if (value) next.set(PARAM[key], value);
    else next.delete(PARAM[key]);
  }
  return next;
}

export function isFiltered(filter: AuditFilterState): boolean {
  return Object.values(filter).some((v) => v.trim() !== "");
}

/** A datetime-local value ("2026-11-23T14:05") in the browser's time zone; null when empty or invalid. */
function localDate(value: string): Date | null {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

export type ServerFilter = {
  from?: Date;
  to?: Date;
  actor?: string;
  teamId?: string;
  hostId?: string;
  action?: string;
  outcome?: Outcome;
  q?: string;
};

export function toServerFilter(filter: AuditFilterState): ServerFilter {
  const out: ServerFilter = {};
  const from = localDate(filter.from);
  const to = localDate(filter.to);
  if (from) out.from = from;
  if (to) out.to = to;
  if (filter.actor.trim()) out.actor = filter.actor.trim();
  if (filter.teamId) out.teamId = filter.teamId;
  if (filter.hostId) out.hostId = filter.hostId;
  if (filter.action.trim()) out.action = filter.action.trim();
  if (filter.outcome) out.outcome = filter.outcome;
  if (filter.q.trim()) out.q = filter.q.trim();
  return out;
}

/** GET /api/audit/export for the current filter (the session cookie authenticates it). */
export function exportUrl(filter: ServerFilter, format: "csv" | "ndjson"): string {
  const params = new URLSearchParams({ format, filter: JSON.stringify(filter) });
  return `/api/audit/export?${params}`;
}

/**
 * Whether a live event belongs in the current view, mirroring the server's
 * structured filters. Free-text search is not mirrored (the server's full-text
 * rules decide it): with `q` set, the caller asks the server instead.
 */
export function matchesLocally(event: AuditEvent, filter: ServerFilter): boolean {
  if (filter.from && event.at < filter.from) return false;
  if (filter.to && event.at >= filter.to) return false;
  if (filter.actor && event.actorId !== filter.actor && !event.actorLabel.toLowerCase().startsWith(filter.actor.toLowerCase())) return false;
  if (filter.teamId && event.teamId !== filter.teamId) return false;
  if (filter.hostId && event.hostId !== filter.hostId) return false;
  if (filter.action && !event.action.startsWith(filter.action)) return false;
  if (filter.outcome && event.outcome !== filter.outcome) return false;
  return true;
}
