"use client";

import type { ReactNode } from "react";
import type { HostStatus } from "../_lib/trpc";
import { formatDateTime, formatRelative, isFailedExit } from "../_lib/format";
import { useNow } from "../_lib/use-now";
import { cx } from "../_lib/cx";

export type Tone = "green" | "red" | "amber" | "blue" | "zinc" | "violet";

const TONES: Record<Tone, { badge: string; dot: string }> = {
  green: { badge: "border-emerald-500/30 bg-emerald-500/10 text-emerald-300", dot: "bg-emerald-400" },
  red: { badge: "border-red-500/30 bg-red-500/10 text-red-300", dot: "bg-red-400" },
  amber: { badge: "border-amber-500/30 bg-amber-500/10 text-amber-300", dot: "bg-amber-400" },
  blue: { badge: "border-sky-500/30 bg-sky-500/10 text-sky-300", dot: "bg-sky-400" },
  violet: { badge: "border-violet-500/30 bg-violet-500/10 text-violet-300", dot: "bg-violet-400" },
  zinc: { badge: "border-zinc-600/50 bg-zinc-700/30 text-zinc-300", dot: "bg-zinc-400" },
};

export function Badge({ tone, children, pulse, testId, title }: { tone: Tone; children: ReactNode; pulse?: boolean; testId?: string; title?: string }) {
  return (
    <span
      data-testid={testId}
      title={title}
      className={cx("inline-flex h-5 items-center gap-1.5 rounded-full border px-2 text-[11px] leading-none font-medium whitespace-nowrap", TONES[tone].badge)}
    >
      <span className="relative flex size-1.5">
        {pulse ? <span className={cx("absolute inline-flex size-full animate-ping rounded-full opacity-60", TONES[tone].dot)} /> : null}
        <span className={cx("relative inline-flex size-1.5 rounded-full", TONES[tone].dot)} />
      </span>
      {children}
    </span>
  );
}

const HOST_STATUS: Record<HostStatus, { tone: Tone; label: string; hint: string }> = {
  ONLINE: { tone: "green", label: "online", hint: "The agent is connected." },
  OFFLINE: { tone: "red", label: "offline", hint: "The agent has not been heard from recently." },
  PENDING: { tone: "amber", label: "pending", hint: "Waiting for an agent to join with its token." },
  REVOKED: { tone: "zinc", label: "revoked", hint: "This host's agent key was revoked." },
};

export function HostStatusBadge({ status, testId }: { status: HostStatus; testId?: string }) {
  const s = HOST_STATUS[status];
  return (
    <Badge tone={s.tone} pulse={status === "ONLINE"} testId={testId} title={s.hint}>
      {s.label}
    </Badge>
  );
}

const CONTAINER_TONES: Record<string, Tone> = {
  running: "green",
  restarting: "amber",
  paused: "violet",
  created: "blue",
  exited: "zinc",
  removing: "zinc",
  dead: "red",
};

export function ContainerStateBadge({ state, exitCode, testId }: { state: string; exitCode: number | null; testId?: string }) {
  const failed = isFailedExit(state, exitCode);
  const tone = failed ? "red" : (CONTAINER_TONES[state] ?? "zinc");
  return (
    <Badge tone={tone} pulse={state === "restarting"} testId={testId} title={state === "exited" && exitCode !== null ? `Exit code ${exitCode}` : undefined}>
      {state}
    </Badge>
  );
}

/** "12s ago", re-rendered every second by the shared ticker; the exact time is in the tooltip. */
export function RelativeTime({ date, testId, className }: { date: Date | null | undefined; testId?: string; className?: string }) {
  const now = useNow();
  return (
    <time
      data-testid={testId}
      dateTime={date?.toISOString()}
      title={formatDateTime(date)}
      className={cx("tabular-nums", className)}
      suppressHydrationWarning
    >
      {now === 0 ? "" : formatRelative(date, now)}
    </time>
  );
}
