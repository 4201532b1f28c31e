"use client";

/**
 * Search over the container's WHOLE log, run on its agent (`containers.searchLogs`),
 * not only over the lines the view holds: plain or regex, case toggle, context
 * lines. Clicking a match opens the log at that point.
 */
import { useQuery } from "@tanstack/react-query";
import { Search } from "lucide-react";
import { useState, type FormEvent, type ReactNode } from "react";
import type { TLogSearchLine } from "../../../../agent/protocol";
import { clockTime } from "../../../_components/log-lines";
import { Button, Select, Spinner, cx } from "../../../_components/ui";
import { stripAnsi } from "../../../_lib/ansi";
import { useTRPC } from "../../../_lib/trpc";

export type SearchJump = { ts: string; text: string; since: string };

type Submitted = { query: string; regex: boolean; caseSensitive: boolean; context: number; since: string | null; until: string | null };

/** Marks what the pattern matches (the user's own pattern, on a line of at most 2,000 characters). */
function marked(text: string, query: Submitted): ReactNode {
  const plain = stripAnsi(text);
  let pattern: RegExp;
  try {
    pattern = new RegExp(query.regex ? query.query : query.query.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), query.caseSensitive ? "g" : "gi");
  } catch {
    return plain;
  }
  const parts: ReactNode[] = [];
  let from = 0;
  for (const match of plain.matchAll(pattern)) {
    if (match[0] === "") break;
    parts.push(plain.slice(from, match.index), <mark key={match.index} className="rounded-sm bg-amber-400/30 text-amber-100">{match[0]}</mark>);
    from = match.index + match[0].length;
    if (parts.length > 200) break;
  }
  parts.push(plain.slice(from));
  return parts;
}

function ContextLine({ line }: { line: TLogSearchLine }) {
  return (
    <div className={cx("flex gap-3 whitespace-pre text-zinc-500", line.stream === "stderr" && "text-red-300/50")}>
      <span className="shrink-0 tabular-nums">{clockTime(line.ts)}</span>
      <span>{stripAnsi(line.text)}</span>
    </div>
  );
}

export function LogSearchPanel({ hostId, containerId, since, until, onJump }: { hostId: string; containerId: string; since: string | null; until: string | null; onJump: (jump: SearchJump) => void }) {
  const trpc = useTRPC();
  const [query, setQuery] = useState("");
  const [regex, setRegex] = useState(false);
  const [caseSensitive, setCaseSensitive] = useState(false);
  const [context, setContext] = useState(2);
  const [submitted, setSubmitted] = useState<Submitted | null>(null);
  const result = useQuery(
    trpc.containers.searchLogs.queryOptions(
      { hostId, containerId, ...(submitted ?? { query: "-", regex: false, caseSensitive: false, context: 0, since: null, until: null }) },
      { enabled: submitted !== null, staleTime: Infinity, retry: false, refetchOnWindowFocus: false },
    ),
  );

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (query.trim() === "") return;
    setSubmitted({ query, regex, caseSensitive, context, since, until });
  };

  return (
    <section className="flex max-h-[45%] min-h-0 flex-col border-b border-zinc-800 bg-zinc-900/40" data-testid="log-search" aria-label="Search the whole log">
      <form onSubmit={submit} className="flex flex-wrap items-center gap-2 px-5 py-2">
        <div className="relative">
          <Search className="pointer-events-none absolute top-1/2 left-2.5 size-3.5 -translate-y-1/2 text-zinc-500" aria-hidden />
          <input
            type="search"
            aria-label="Search the whole log on the host"
            data-testid="log-search-query"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            placeholder={regex ? "Regular expression" : "Text"}
            maxLength={1024}
            className="h-7 w-72 rounded-md border border-zinc-700 bg-zinc-900 pr-2 pl-8 font-mono text-xs text-zinc-100 outline-none placeholder:text-zinc-500 focus:border-sky-500 focus:ring-2 focus:ring-sky-500/25"
          />
        </div>
        <Button size="xs" variant={regex ? "secondary" : "ghost"} aria-pressed={regex} data-testid="log-search-regex" onClick={() => setRegex((r) => !r)} title="Regular expression">
          .*
        </Button>
        <Button size="xs" variant={caseSensitive ? "secondary" : "ghost"} aria-pressed={caseSensitive} data-testid="log-search-case" onClick={() => setCaseSensitive((c) => !c)} title="Match case">
          Aa
        </Button>
        <Select aria-label="Context lines" value={String(context)} onChange={(e) => setContext(Number(e.target.value))} className="h-7! w-32! text-xs!">
          {[0, 1, 2, 5, 10].map((n) => (
            <option key={n} value={n}>
              {n === 0 ? "No context" : `${n} line${n === 1 ? "" : "s"} around`}
            </option>
          ))}
        </Select>
        <Button size="xs" variant="primary" type="submit" data-testid="log-search-run" loading={result.isFetching}>
          Search whole log
        </Button>
        {since || until ? <span className="text-[11px] text-zinc-500">within the chosen time range</span> : null}
      </form>
      {submitted ? (
        <div className="min-h-0 flex-1 overflow-auto px-5 pb-2 font-mono text-[12px] leading-5" data-testid="log-search-results">
          {result.isFetching ? (
            <p className="flex items-center gap-2 py-2 font-sans text-xs text-zinc-400">
              <Spinner className="size-3" /> Searching the log on the host…
            </p>
          ) : result.error ? (
            <p className="py-2 font-sans text-xs text-red-300" role="alert">
              {result.error.message}
            </p>
          ) : result.data ? (
            <>
              <p className="py-1 font-sans text-[11px] text-zinc-400" data-testid="log-search-summary">
                {result.data.matches.length.toLocaleString()} match{result.data.matches.length === 1 ? "" : "es"} in {result.data.scannedLines.toLocaleString()} lines
                {result.data.truncated === "matches" ? " · stopped at the first 1,000: narrow the search" : ""}
                {result.data.truncated === "size" ? " · stopped: the answer grew too large (fewer context lines?)" : ""}
                {result.data.truncated === "time" ? " · stopped: out of time before the end of the log" : ""}
              </p>
              <ol className="space-y-1">
                {result.data.matches.map((match, i) => (
                  <li key={`${match.line.ts}-${i}`} className="rounded border border-zinc-800/80 bg-zinc-950/70 px-2 py-1">
                    {match.before.map((line, j) => (
                      <ContextLine key={`b${j}`} line={line} />
                    ))}
                    <button
                      type="button"
                      data-testid="log-search-match"
                      className={cx("flex w-full gap-3 text-left whitespace-pre hover:bg-zinc-800/60", match.line.stream === "stderr" ? "text-red-300" : "text-zinc-100")}
                      title="Open the log here"
                      onClick={() => onJump({ ts: match.line.ts, text: match.line.text, since: match.before[0]?.ts ?? match.line.ts })}
                    >
                      <span className="shrink-0 text-sky-300 tabular-nums">{clockTime(match.line.ts)}</span>
                      <span>
                        {marked(match.line.text, submitted)}
                        {match.line.cut ? "…" : ""}
                      </span>
                    </button>
                    {match.after.map((line, j) => (
                      <ContextLine key={`a${j}`} line={line} />
                    ))}
                  </li>
                ))}
              </ol>
            </>
          ) : null}
        </div>
      ) : null}
    </section>
  );
}
