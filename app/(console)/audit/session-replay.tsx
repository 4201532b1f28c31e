"use client";

/**
 * Replays a terminal session recorded with its audit event: asciinema-player
 * over the recording route (the same access as the event), with seek (its
 * progress bar), speed, and the `.cast` download the asciinema CLI plays.
 */
import { useQuery } from "@tanstack/react-query";
import { Download } from "lucide-react";
import { useEffect, useRef, useState } from "react";
import "asciinema-player/dist/bundle/asciinema-player.css";
import { buttonClasses, cx, Spinner } from "../../_components/ui";
import { formatBytes, formatDateTime } from "../../_lib/format";
import { errorMessage, useTRPC } from "../../_lib/trpc";

const SPEEDS = [0.5, 1, 2, 4] as const;

export function SessionReplay({ sessionId }: { sessionId: string }) {
  const trpc = useTRPC();
  const facts = useQuery(trpc.terminals.session.queryOptions({ sessionId }));
  const element = useRef<HTMLDivElement>(null);
  const [speed, setSpeed] = useState<number>(1);
  const url = `/api/terminal-recording?sessionId=${encodeURIComponent(sessionId)}`;
  const ended = Boolean(facts.data?.endedAt);

  useEffect(() => {
    const target = element.current;
    if (!target || !facts.data) return;
    let player: { dispose(): void; getCurrentTime(): number } | null = null;
    let disposed = false;
    const startAt = Number(target.dataset.time ?? 0);
    void import("asciinema-player").then((AsciinemaPlayer) => {
      if (disposed) return;
      player = AsciinemaPlayer.create({ url, fetchOpts: { credentials: "same-origin" } }, target, {
        speed,
        startAt,
        fit: "width",
        controls: true,
        idleTimeLimit: 2,
        terminalFontSize: "small",
        theme: "asciinema",
      });
    });
    return () => {
      disposed = true;
      // Keep the position when the speed changes.
      if (player) target.dataset.time = String(player.getCurrentTime());
      player?.dispose();
    };
  }, [url, speed, facts.data]);

  if (facts.isPending) return <Spinner />;
  if (facts.isError) return <p className="text-xs text-zinc-500">{errorMessage(facts.error)}</p>;
  const s = facts.data;
  return (
    <div className="flex flex-col gap-2" data-testid="session-replay">
      <div className="flex flex-wrap items-center gap-x-3 gap-y-1 text-[11px] text-zinc-500">
        <span>
          {s.kind === "attach" ? "Attached" : "Exec"} <span className="font-mono text-zinc-300">{s.command}</span> in {s.containerName} on {s.hostName}
        </span>
        <span>{formatBytes(s.bytes)} recorded{s.truncated ? " (cut at the size limit)" : ""}</span>
        <span>{s.inputRecorded ? "keystrokes recorded" : "output only"}</span>
        <span data-testid="session-replay-end">
          {ended
            ? `ended ${formatDateTime(new Date(s.endedAt!))}${s.exitCode !== null ? ` · exit code ${s.exitCode}` : ""}${s.endReason ? ` · ${s.endReason}` : ""}`
            : "still open"}
        </span>
      </div>
      <div ref={element} className="overflow-hidden rounded-md border border-zinc-800 bg-black" data-testid="session-replay-player" />
      <div className="flex items-center gap-1">
        <span className="mr-1 text-[11px] text-zinc-500">Speed</span>
        {SPEEDS.map((value) => (
          <button
            key={value}
            type="button"
            onClick={() => setSpeed(value)}
            data-testid={`session-replay-speed-${value}`}
            className={cx("rounded px-2 py-0.5 text-[11px]", value === speed ? "bg-sky-500/20 text-sky-200" : "text-zinc-400 hover:bg-zinc-800")}
          >
            {value}×
          </button>
        ))}
        <a href={`${url}&download=1`} download className={buttonClasses("ghost", "xs", "ml-auto")} data-testid="session-replay-download">
          <Download className="size-3" aria-hidden />
          Download .cast
        </a>
      </div>
    </div>
  );
}
