"use client";

import { useQuery } from "@tanstack/react-query";
import { Download, Eraser, RotateCw, ShieldCheck } from "lucide-react";
import { usePathname, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useCallback, useMemo, useState } from "react";
import { Button, PageHeader, Spinner, buttonClasses, cx } from "../../_components/ui";
import { canAnywhere, isGlobalAdmin } from "../../_lib/access";
import { plural } from "../../_lib/format";
import { useSessionUser } from "../../_lib/session";
import { useTRPC } from "../../_lib/trpc";
import { useDocumentTitle } from "../../_lib/use-document-title";
import { AdminsOnly } from "../_components/admins-only";
import { AuditTable, type NameOf } from "./audit-table";
import { EventDetail } from "./event-detail";
import { AuditFilterBar } from "./filter-bar";
import { exportUrl, filterFromParams, filterToParams, isFiltered, toServerFilter, type AuditFilterState } from "./filter";
import { RetentionDialog, useVerifyChain, VerifyResultBanner } from "./integrity";
import { MAX_ROWS, useAuditFeed } from "./use-audit-feed";

export default function AuditPage() {
  const user = useSessionUser();
  useDocumentTitle("Audit");
  if (!canAnywhere(user, "audit.view")) return <AdminsOnly what="The audit trail" verb="is" />;
  // useSearchParams needs a Suspense boundary for the static build.
  return (
    <Suspense
      fallback={
        <div className="flex justify-center py-20 text-zinc-500">
          <Spinner />
        </div>
      }
    >
      <AuditView />
    </Suspense>
  );
}

function parseSeq(value: string | null): bigint | null {
  return value && /^\d{1,19}$/.test(value) && value !== "0" ? BigInt(value) : null;
}

function AuditView() {
  const trpc = useTRPC();
  const user = useSessionUser();
  const admin = isGlobalAdmin(user);
  const router = useRouter();
  const pathname = usePathname();
  const searchParams = useSearchParams();
  const query = searchParams.toString();

  const filter = useMemo(() => filterFromParams(new URLSearchParams(query)), [query]);
  const serverFilter = useMemo(() => toServerFilter(filter), [filter]);
  const filterKey = JSON.stringify(serverFilter);
  const selectedSeq = parseSeq(searchParams.get("event"));

  const [live, setLive] = useState(false);
  const [retention, setRetention] = useState(false);
  const feed = useAuditFeed({ filter: serverFilter, live });
  const verify = useVerifyChain();
  const hosts = useQuery(trpc.hosts.list.queryOptions());
  const teams = useQuery(trpc.teams.list.queryOptions());

  const names = useMemo<NameOf>(() => {
    const hostNames = new Map((hosts.data ?? []).map((h) => [h.id, h.name]));
    const teamNames = new Map((teams.data ?? []).map((t) => [t.id, t.name]));
    for (const t of user.access.teams) teamNames.set(t.teamId, t.teamName);
    return { host: (id) => (id ? (hostNames.get(id) ?? null) : null), team: (id) => (id ? (teamNames.get(id) ?? null) : null) };
  }, [hosts.data, teams.data, user.access.teams]);

  // Rows newer than the first page of this filter arrived live: they flash once.
  const [baseline, setBaseline] = useState<{ key: string; seq: bigint } | null>(null);
  if (!feed.isPending && baseline?.key !== filterKey) setBaseline({ key: filterKey, seq: feed.rows[0]?.seq ?? 0n });
  const flashFrom = baseline?.key === filterKey ? baseline.seq : null;

  const replaceParams = useCallback(
    (edit: (params: URLSearchParams) => URLSearchParams) => {
      const next = edit(new URLSearchParams(query)).toString();
      router.replace(next ? `${pathname}?${next}` : pathname, { scroll: false });
    },
    [query, pathname, router],
  );
  const changeFilter = (patch: Partial<AuditFilterState>) => replaceParams((p) => filterToParams({ ...filter, ...patch }, p));
  const openEvent = (seq: bigint | null) =>
    replaceParams((p) => {
      if (seq === null) p.delete("event");
      else p.set("event", seq.toString());
      return p;
    });

  const selected = selectedSeq === null ? undefined : feed.rows.find((e) => e.seq === selectedSeq);

  return (
    <div className="flex flex-col gap-4">
      <PageHeader
        title="Audit"
        description={
          admin
            ? "Every change, sign-in and refused attempt across Berth, hash-chained so tampering shows."
            : "Every change and refused attempt on your teams' hosts, hash-chained so tampering shows."
        }
        actions={
          admin ? (
            <>
              <Button size="sm" icon={<ShieldCheck className="size-3.5" />} loading={verify.isPending} onClick={() => verify.mutate()} data-testid="verify-chain">
                Verify chain
              </Button>
              <Button size="sm" variant="ghost" icon={<Eraser className="size-3.5" />} onClick={() => setRetention(true)} data-testid="retention-button">
                Retention…
              </Button>
            </>
          ) : null
        }
      />

      <VerifyResultBanner result={verify.data} error={verify.error} onOpenEvent={openEvent} onDismiss={() => verify.reset()} />

      <AuditFilterBar filter={filter} onChange={changeFilter} teams={teams.data ?? []} hosts={hosts.data ?? []} />

      <div className="overflow-hidden rounded-lg border border-zinc-800 bg-zinc-900/40">
        <div className="flex flex-wrap items-center gap-3 border-b border-zinc-800 px-3 py-2">
          <LiveToggle live={live} status={feed.liveStatus} onToggle={() => setLive((l) => !l)} />
          <Button size="xs" variant="ghost" icon={<RotateCw className="size-3" />} onClick={() => void feed.reload()} disabled={feed.isPending} data-testid="audit-refresh">
            Refresh
          </Button>
          <span className="text-xs text-zinc-500" data-testid="audit-count">
            {feed.isPending ? "Loading…" : `${plural(feed.rows.length, "event")}${isFiltered(filter) ? " matching" : ""}${feed.hasMore ? " so far" : ""}`}
          </span>
          <div className="ml-auto flex items-center gap-2">
            <span className="text-xs text-zinc-500">Export this filter</span>
            <a href={exportUrl(serverFilter, "csv")} download className={buttonClasses("secondary", "xs")} data-testid="export-csv">
              <Download className="size-3" aria-hidden />
              CSV
            </a>
            <a href={exportUrl(serverFilter, "ndjson")} download className={buttonClasses("secondary", "xs")} data-testid="export-ndjson">
              <Download className="size-3" aria-hidden />
              NDJSON
            </a>
          </div>
        </div>
        <div className="max-h-[calc(100vh-22rem)] min-h-72 overflow-auto">
          <table className="w-full border-collapse text-left text-[13px] [&_thead]:text-[11px] [&_thead]:tracking-wide">
            <AuditTable
              rows={feed.rows}
              isPending={feed.isPending}
              error={feed.error}
              names={names}
              selectedSeq={selectedSeq}
              onSelect={(e) => openEvent(e.seq)}
              flashFrom={flashFrom}
            />
          </table>
        </div>
        <div className="flex items-center justify-between gap-3 border-t border-zinc-800 px-3 py-1.5 text-xs text-zinc-500">
          <span>
            Newest first.
            {feed.full ? ` Showing the newest ${MAX_ROWS.toLocaleString()}: narrow the filter, or export it to get everything.` : null}
            {!feed.isPending && !feed.hasMore && !feed.full && feed.rows.length > 0 ? " That is everything for this filter." : null}
          </span>
          {feed.hasMore ? (
            <Button size="xs" variant="secondary" loading={feed.loadingMore} onClick={feed.loadMore} data-testid="audit-load-more">
              Load more
            </Button>
          ) : null}
        </div>
      </div>

      <EventDetail
        seq={selectedSeq}
        loaded={selected}
        names={names}
        onClose={() => openEvent(null)}
        onFilter={(patch) => {
          replaceParams((p) => {
            const next = filterToParams({ ...filter, ...patch }, p);
            next.delete("event");
            return next;
          });
        }}
      />
      {admin ? <RetentionDialog open={retention} onClose={() => setRetention(false)} onDone={() => void feed.reload()} /> : null}
    </div>
  );
}

const LIVE_DOT = { off: "bg-zinc-600", connecting: "bg-amber-400 animate-pulse", live: "bg-emerald-400", error: "bg-red-400" } as const;

function LiveToggle({ live, status, onToggle }: { live: boolean; status: keyof typeof LIVE_DOT; onToggle: () => void }) {
  return (
    <button
      type="button"
      role="switch"
      aria-checked={live}
      data-testid="audit-live"
      data-status={status}
      onClick={onToggle}
      title={live ? "New events appear on top as they are recorded. Click to pause." : "Show new events as they are recorded."}
      className={cx(
        "inline-flex h-6 items-center gap-2 rounded-md border px-2 text-xs font-medium transition-colors",
        live ? "border-emerald-500/40 bg-emerald-500/10 text-emerald-200" : "border-zinc-700 text-zinc-300 hover:bg-zinc-800",
      )}
    >
      <span className="relative flex size-2">
        {status === "live" ? <span className="absolute inline-flex size-full animate-ping rounded-full bg-emerald-400 opacity-60" /> : null}
        <span className={cx("relative inline-flex size-2 rounded-full", LIVE_DOT[status])} />
      </span>
      {status === "error" ? "Live (disconnected)" : live ? "Live" : "Live off"}
    </button>
  );
}
