"use client";

import { X } from "lucide-react";
import { FilterInput } from "../../_components/table";
import { Button } from "../../_components/ui";
import type { Host } from "../../_lib/trpc";

type FleetFilter = {
  name?: string;
  image?: string;
  states?: Array<"created" | "running" | "paused" | "restarting" | "removing" | "exited" | "dead">;
  hostIds?: string[];
  label?: string;
  port?: number;
  health?: "healthy" | "unhealthy" | "starting" | "none";
};

/** What the filter bar holds, as typed (strings), before it becomes the server's filter. */
export type FilterDraft = { name: string; image: string; state: string; hostId: string; label: string; port: string; health: string };
export const EMPTY_FILTER: FilterDraft = { name: "", image: "", state: "", hostId: "", label: "", port: "", health: "" };

/** "stopped" is every state but running, as on the host page. */
const STATE_CHOICES: Record<string, FleetFilter["states"]> = {
  running: ["running"],
  stopped: ["created", "exited", "dead", "paused", "restarting", "removing"],
  paused: ["paused"],
  exited: ["exited"],
  created: ["created"],
  restarting: ["restarting"],
  dead: ["dead"],
};

/** The server's filter for a draft, or why the draft is not one yet (shown instead of a request). */
export function toServerFilter(draft: FilterDraft): { value: FleetFilter; error: string | null; empty: boolean } {
  const value: FleetFilter = {};
  let error: string | null = null;
  if (draft.name.trim()) value.name = draft.name.trim();
  if (draft.image.trim()) value.image = draft.image.trim();
  if (draft.state) value.states = STATE_CHOICES[draft.state];
  if (draft.hostId) value.hostIds = [draft.hostId];
  if (draft.label.trim()) {
    if (draft.label.trim().startsWith("=")) error = "A label filter is key or key=value.";
    else value.label = draft.label.trim();
  }
  if (draft.port.trim()) {
    const port = Number(draft.port.trim());
    if (!Number.isInteger(port) || port < 1 || port > 65_535) error = "A published port is a number from 1 to 65535.";
    else value.port = port;
  }
  if (draft.health) value.health = draft.health as FleetFilter["health"];
  return { value, error, empty: Object.keys(value).length === 0 };
}

const selectClass = "h-7 rounded-md border border-zinc-700 bg-zinc-900 px-2 text-xs text-zinc-100 outline-none focus:border-sky-500";
const inputClass = "h-7 rounded-md border border-zinc-700 bg-zinc-900 px-2 text-xs text-zinc-100 outline-none placeholder:text-zinc-500 focus:border-sky-500";

export function FleetFilterBar({ draft, onChange, hosts, error }: { draft: FilterDraft; onChange: (d: FilterDraft) => void; hosts: Host[]; error: string | null }) {
  const set = (key: keyof FilterDraft) => (value: string) => onChange({ ...draft, [key]: value });
  const dirty = Object.values(draft).some((v) => v !== "");
  return (
    <div className="flex w-full flex-wrap items-center gap-2" data-testid="fleet-filters">
      <FilterInput value={draft.name} onChange={set("name")} label="Filter by name" placeholder="Name" />
      <input aria-label="Filter by image" placeholder="Image" value={draft.image} onChange={(e) => set("image")(e.target.value)} className={`${inputClass} w-40`} />
      <select aria-label="Filter by state" value={draft.state} onChange={(e) => set("state")(e.target.value)} className={selectClass} data-testid="filter-state">
        <option value="">Any state</option>
        {Object.keys(STATE_CHOICES).map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
      <select aria-label="Filter by host" value={draft.hostId} onChange={(e) => set("hostId")(e.target.value)} className={selectClass} data-testid="filter-host">
        <option value="">Any host</option>
        {hosts.map((h) => (
          <option key={h.id} value={h.id}>
            {h.name}
          </option>
        ))}
      </select>
      <input aria-label="Filter by label" placeholder="label or label=value" value={draft.label} onChange={(e) => set("label")(e.target.value)} className={`${inputClass} w-44`} />
      <input aria-label="Filter by published port" placeholder="Port" inputMode="numeric" value={draft.port} onChange={(e) => set("port")(e.target.value)} className={`${inputClass} w-20`} aria-invalid={error?.includes("port") || undefined} />
      <select aria-label="Filter by health" value={draft.health} onChange={(e) => set("health")(e.target.value)} className={selectClass}>
        <option value="">Any health</option>
        <option value="healthy">healthy</option>
        <option value="unhealthy">unhealthy</option>
        <option value="starting">starting</option>
        <option value="none">no healthcheck</option>
      </select>
      {dirty ? (
        <Button size="xs" variant="ghost" icon={<X className="size-3" />} onClick={() => onChange(EMPTY_FILTER)}>
          Clear
        </Button>
      ) : null}
      {error ? (
        <span role="alert" className="text-xs text-red-300">
          {error}
        </span>
      ) : null}
    </div>
  );
}
