"use client";

import { useState } from "react";
import { CopyButton } from "../../../../../_components/copy-button";
import { cx } from "../../../../../_lib/cx";

/** One value of the inspect document as a collapsible tree (objects and arrays open to their children). */
function Node({ name, value, depth }: { name: string; value: unknown; depth: number }) {
  if (value !== null && typeof value === "object") {
    const entries = Array.isArray(value) ? value.map((v, i) => [String(i), v] as const) : Object.entries(value as Record<string, unknown>);
    if (entries.length === 0) {
      return (
        <div className="font-mono text-xs">
          <span className="text-zinc-400">{name}</span> <span className="text-zinc-600">{Array.isArray(value) ? "[]" : "{}"}</span>
        </div>
      );
    }
    return (
      <details open={depth < 1} className="font-mono text-xs">
        <summary className="cursor-pointer text-zinc-300 select-none hover:text-zinc-100">
          {name} <span className="text-zinc-600">{Array.isArray(value) ? `[${entries.length}]` : `{${entries.length}}`}</span>
        </summary>
        <div className="ml-4 border-l border-zinc-800 pl-2">
          {entries.map(([k, v]) => (
            <Node key={k} name={k} value={v} depth={depth + 1} />
          ))}
        </div>
      </details>
    );
  }
  return (
    <div className="font-mono text-xs break-all">
      <span className="text-zinc-400">{name}</span>{" "}
      <span className={cx(typeof value === "string" ? "text-emerald-300/90" : "text-sky-300", value === "[redacted]" && "text-amber-300/80")}>{JSON.stringify(value)}</span>
    </div>
  );
}

/** Docker's inspect document (secrets masked on the host before it was sent), readable or raw. */
export function Inspect({ inspect }: { inspect: unknown }) {
  const [raw, setRaw] = useState(false);
  const json = JSON.stringify(inspect, null, 2);
  return (
    <div className="flex flex-col gap-2">
      <div className="flex items-center gap-2">
        <div role="group" aria-label="Inspect view" className="flex rounded-md border border-zinc-700 p-0.5">
          {(["readable", "raw"] as const).map((mode) => (
            <button
              key={mode}
              type="button"
              aria-pressed={raw === (mode === "raw")}
              data-testid={`inspect-${mode}`}
              onClick={() => setRaw(mode === "raw")}
              className={cx("rounded px-2 py-0.5 text-xs capitalize", raw === (mode === "raw") ? "bg-zinc-700 text-zinc-100" : "text-zinc-400 hover:text-zinc-200")}
            >
              {mode === "raw" ? "Raw JSON" : "Readable"}
            </button>
          ))}
        </div>
        <CopyButton text={json} label="Copy JSON" testId="inspect-copy" />
        <span className="text-[11px] text-zinc-500">Environment values and secret-looking labels were masked on the host.</span>
      </div>
      <div className="max-h-[70vh] overflow-auto rounded-lg border border-zinc-800 bg-zinc-950 p-3" data-testid="inspect-view">
        {raw ? (
          <pre className="font-mono text-xs text-zinc-300" data-testid="inspect-raw">
            {json}
          </pre>
        ) : inspect && typeof inspect === "object" ? (
          Object.entries(inspect as Record<string, unknown>).map(([k, v]) => <Node key={k} name={k} value={v} depth={0} />)
        ) : (
          <p className="text-xs text-zinc-500">No inspect data.</p>
        )}
      </div>
    </div>
  );
}
