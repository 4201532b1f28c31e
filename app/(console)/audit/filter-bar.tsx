"use client";

import { FilterX, Search } from "lucide-react";
import { useEffect, useRef, useState, type ComponentProps, type ReactNode } from "react";
import { cx } from "../../_components/ui";
import type { Host, Team } from "../../_lib/trpc";
import { isFiltered, OUTCOMES, type AuditFilterState } from "./filter";

const TYPE_DELAY_MS = 350;

const OUTCOME_LABEL: Record<(typeof OUTCOMES)[number] | "", string> = { "": "All", SUCCESS: "Success", FAILURE: "Failure", DENIED: "Denied" };

const inputClass =
  "h-7 w-full rounded-md border border-zinc-700 bg-zinc-900 px-2 text-xs text-zinc-100 outline-none placeholder:text-zinc-500 focus:border-sky-500 focus:ring-2 focus:ring-sky-500/25";

/** A text box that commits what is typed after a pause, and follows outside changes (e.g. "Clear"). */
function TypedInput({
  value,
  onCommit,
  className,
  ...rest
}: { value: string; onCommit: (v: string) => void } & Omit<ComponentProps<"input">, "value" | "onChange">) {
  const [local, setLocal] = useState(value);
  const sent = useRef(value);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);

  useEffect(() => {
    if (value !== sent.current) {
      sent.current = value;
      setLocal(value);
    }
  }, [value]);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);

  const commit = (v: string) => {
    if (timer.current) clearTimeout(timer.current);
    timer.current = null;
    if (v !== sent.current) {
      sent.current = v;
      onCommit(v);
    }
  };

  return (
    <input
      {...rest}
      value={local}
      onChange={(e) => {
        const v = e.target.value;
        setLocal(v);
        if (timer.current) clearTimeout(timer.current);
        timer.current = setTimeout(() => commit(v), TYPE_DELAY_MS);
      }}
      onKeyDown={(e) => {
        if (e.key === "Enter") commit(local);
      }}
      onBlur={() => commit(local)}
      className={cx(inputClass, className)}
    />
  );
}

function Labelled({ label, children, className }: { label: string; children: ReactNode; className?: string }) {
  return (
    <label className={cx("flex min-w-0 flex-col gap-1", className)}>
      <span className="text-[11px] font-medium tracking-wide text-zinc-500 uppercase">{label}</span>
      {children}
    </label>
  );
}

export function AuditFilterBar({
  filter,
  onChange,
  teams,
  hosts,
}: {
  filter: AuditFilterState;
  onChange: (patch: Partial<AuditFilterState>) => void;
  teams: Team[];
  hosts: Host[];
}) {
  return (
    <div className="flex flex-col gap-3 rounded-lg border border-zinc-800 bg-zinc-900/40 px-3 py-3" data-testid="audit-filters">
      <div className="flex flex-wrap items-end gap-3">
        <Labelled label="Search" className="min-w-64 flex-[2]">
          <div className="relative">
            <Search className="pointer-events-none absolute top-1/2 left-2 size-3.5 -translate-y-1/2 text-zinc-500" aria-hidden />
            <TypedInput
              type="search"
              aria-label="Search the audit trail"
              data-testid="audit-search"
              value={filter.q}
              onCommit={(q) => onChange({ q })}
              placeholder="Words in the action, actor, target, error or parameters"
              className="pl-7"
            />
          </div>
        </Labelled>
        <Labelled label="Actor" className="min-w-44 flex-1">
          <TypedInput aria-label="Actor" data-testid="audit-actor" value={filter.actor} onCommit={(actor) => onChange({ actor })} placeholder="Email (prefix) or user id" />
        </Labelled>
        <Labelled label="Action" className="min-w-40 flex-1">
          <TypedInput
            aria-label="Action"
            data-testid="audit-action"
            value={filter.action}
            onCommit={(action) => onChange({ action })}
            placeholder="Prefix, e.g. containers."
            className="font-mono"
          />
        </Labelled>
        <Labelled label="Outcome">
          <div role="group" aria-label="Outcome" className="flex h-7 items-center rounded-md border border-zinc-700 p-0.5">
            {(["", ...OUTCOMES] as const).map((o) => (
              <button
                key={o || "ALL"}
                type="button"
                aria-pressed={filter.outcome === o}
                data-testid={`outcome-${o || "ALL"}`}
                onClick={() => onChange({ outcome: o })}
                className={cx(
                  "h-full rounded px-2 text-xs transition-colors",
                  filter.outcome === o ? "bg-zinc-700 text-zinc-100" : "text-zinc-400 hover:text-zinc-200",
                )}
              >
                {OUTCOME_LABEL[o]}
              </button>
            ))}
          </div>
        </Labelled>
      </div>
      <div className="flex flex-wrap items-end gap-3">
        <Labelled label="From" className="w-48">
          <input
            type="datetime-local"
            aria-label="From"
            data-testid="audit-from"
            value={filter.from}
            max={filter.to || undefined}
            onChange={(e) => onChange({ from: e.target.value })}
            className={cx(inputClass, "[color-scheme:dark]")}
          />
        </Labelled>
        <Labelled label="To" className="w-48">
          <input
            type="datetime-local"
            aria-label="To"
            data-testid="audit-to"
            value={filter.to}
            min={filter.from || undefined}
            onChange={(e) => onChange({ to: e.target.value })}
            className={cx(inputClass, "[color-scheme:dark]")}
          />
        </Labelled>
        <Labelled label="Team" className="w-48">
          <select aria-label="Team" data-testid="audit-team" value={filter.teamId} onChange={(e) => onChange({ teamId: e.target.value })} className={cx(inputClass, "px-1.5")}>
            <option value="">Any team</option>
            {filter.teamId && !teams.some((t) => t.id === filter.teamId) ? <option value={filter.teamId}>{filter.teamId}</option> : null}
            {teams.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </select>
        </Labelled>
        <Labelled label="Host" className="w-48">
          <select aria-label="Host" data-testid="audit-host" value={filter.hostId} onChange={(e) => onChange({ hostId: e.target.value })} className={cx(inputClass, "px-1.5")}>
            <option value="">Any host</option>
            {filter.hostId && !hosts.some((h) => h.id === filter.hostId) ? <option value={filter.hostId}>{filter.hostId}</option> : null}
            {hosts.map((h) => (
              <option key={h.id} value={h.id}>
                {h.name}
              </option>
            ))}
          </select>
        </Labelled>
        <button
          type="button"
          data-testid="audit-clear"
          disabled={!isFiltered(filter)}
          onClick={() => onChange({ from: "", to: "", actor: "", teamId: "", hostId: "", action: "", outcome: "", q: "" })}
          className="ml-auto inline-flex h-7 items-center gap-1.5 rounded-md px-2 text-xs text-zinc-400 transition-colors hover:bg-zinc-800 hover:text-zinc-100 disabled:pointer-events-none disabled:opacity-40"
        >
          <FilterX className="size-3.5" aria-hidden />
          Clear filters
        </button>
      </div>
    </div>
  );
}
