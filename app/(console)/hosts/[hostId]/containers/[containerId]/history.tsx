"use client";

import { useQuery } from "@tanstack/react-query";
import { Spinner } from "../../../../../_components/ui";
import { formatDateTime, isFailedExit } from "../../../../../_lib/format";
import { errorMessage, useTRPC, type RouterOutputs } from "../../../../../_lib/trpc";
import { cx } from "../../../../../_lib/cx";

type Entry = RouterOutputs["containers"]["history"][number];

/** What a lifecycle event means, in words (Docker's action names are terse). */
function describe(e: Entry): { text: string; tone: "green" | "red" | "amber" | "zinc" | "blue" } {
  switch (e.action) {
    case "create":
      return { text: `Created from ${e.image}`, tone: "blue" };
    case "start":
      return { text: "Started", tone: "green" };
    case "die":
      return { text: `Exited with code ${e.exitCode ?? "?"}`, tone: isFailedExit("exited", e.exitCode) ? "red" : "zinc" };
    case "oom":
      return { text: "Killed for running out of memory (OOM)", tone: "red" };
    case "kill":
      return { text: `Sent signal ${e.signal ?? "?"}`, tone: "amber" };
    case "stop":
      return { text: "Stopped", tone: "zinc" };
    case "restart":
      return { text: "Restarted", tone: "amber" };
    case "pause":
      return { text: "Paused", tone: "amber" };
    case "unpause":
      return { text: "Unpaused", tone: "green" };
    case "rename":
      return { text: `Renamed from ${e.oldName ?? "?"} to ${e.name}`, tone: "blue" };
    case "destroy":
      return { text: "Removed", tone: "red" };
    case "health_status":
      return { text: `Health: ${e.health ?? "?"}`, tone: e.health === "healthy" ? "green" : e.health === "unhealthy" ? "red" : "amber" };
    default:
      return { text: e.action, tone: "zinc" };
  }
}

const DOT = { green: "bg-emerald-400", red: "bg-red-400", amber: "bg-amber-400", zinc: "bg-zinc-500", blue: "bg-sky-400" };

/** The container's lifecycle as Berth recorded it from Docker's events; kept after the container is removed. */
export function History({ hostId, containerId }: { hostId: string; containerId: string }) {
  const trpc = useTRPC();
  const history = useQuery(trpc.containers.history.queryOptions({ hostId, containerId }));
  if (history.isPending) return <Spinner className="mx-auto my-6 size-4" />;
  if (history.error) return <p className="py-6 text-center text-xs text-red-300">Could not load the history: {errorMessage(history.error)}</p>;
  if (history.data.length === 0) {
    return <p className="py-6 text-center text-xs text-zinc-500">No lifecycle events recorded yet (Berth records them from the moment its agent runs).</p>;
  }
  return (
    <ol className="relative ml-2 border-l border-zinc-800" data-testid="history-timeline">
      {history.data.map((e) => {
        const d = describe(e);
        return (
          <li key={e.id} className="mb-3 ml-4" data-testid="history-event" data-action={e.action}>
            <span className={cx("absolute -left-[5px] mt-1.5 size-2.5 rounded-full ring-4 ring-zinc-950", DOT[d.tone])} />
            <div className="text-sm text-zinc-100">{d.text}</div>
            <div className="text-[11px] text-zinc-500">
              {formatDateTime(e.at)} · {e.name}
            </div>
          </li>
        );
      })}
    </ol>
  );
}
