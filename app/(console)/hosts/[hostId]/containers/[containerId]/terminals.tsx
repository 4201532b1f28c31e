"use client";

/**
 * The container page's Terminal tab: open shells (`docker exec -it`) with a
 * command, user, working directory and environment of one's choosing, or
 * attach to the main process, each in its own tab. Terminals stay open while
 * the user looks at other tabs of the page.
 */
import { Plus, SquareTerminal, X } from "lucide-react";
import { useState } from "react";
import { TerminalView, type TerminalSpec, type TerminalStatus } from "../../../../../_components/terminal-view";
import { Button, Field, FormError, SelectField, cx } from "../../../../../_components/ui";

type Session = { key: number; title: string; spec: TerminalSpec; status: TerminalStatus };

const COMMANDS = ["sh", "bash", "ash", "zsh"] as const;

/** Splits a command line the way a shell would for simple cases: spaces separate, quotes group. */
export function splitCommand(line: string): string[] {
  const args: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let match = pattern.exec(line); match; match = pattern.exec(line)) {
    args.push(match[1] !== undefined ? match[1].replace(/\\(.)/g, "$1") : (match[2] ?? match[3]!));
  }
  return args;
}

let nextKey = 1;

export function Terminals({ hostId, containerId, canExec, canAttach, running, visible }: {
  hostId: string;
  containerId: string;
  canExec: boolean;
  canAttach: boolean;
  running: boolean;
  visible: boolean;
}) {
  const [sessions, setSessions] = useState<Session[]>([]);
  const [active, setActive] = useState<number | null>(null);
  const [command, setCommand] = useState<string>("sh");
  const [custom, setCustom] = useState("");
  const [user, setUser] = useState("");
  const [workingDir, setWorkingDir] = useState("");
  const [env, setEnv] = useState("");
  const [error, setError] = useState<string | null>(null);

  const add = (title: string, spec: TerminalSpec) => {
    const key = nextKey++;
    setSessions((list) => [...list, { key, title, spec, status: "connecting" }]);
    setActive(key);
  };

  const openExec = () => {
    const cmd = command === "custom" ? splitCommand(custom) : [command];
    if (!cmd.length) return setError("Type a command to run");
    const envList = env.split("\n").map((line) => line.trim()).filter(Boolean);
    const bad = envList.find((line) => !/^[^=\s]+=/.test(line));
    if (bad) return setError(`"${bad}" is not KEY=value`);
    if (workingDir && !workingDir.startsWith("/")) return setError("The working directory must be an absolute path");
    setError(null);
    add(cmd.join(" ") + (user ? ` (${user})` : ""), { mode: "exec", hostId, containerId, cmd, user: user.trim(), workingDir: workingDir.trim(), env: envList });
  };

  const close = (key: number) => {
    setSessions((list) => {
      const next = list.filter((s) => s.key !== key);
      if (active === key) setActive(next[next.length - 1]?.key ?? null);
      return next;
    });
  };

  if (!running && sessions.length === 0) {
    return <p className="py-6 text-center text-xs text-zinc-500">The container is not running: start it to open a terminal.</p>;
  }

  return (
    <div className="flex flex-col gap-3" data-testid="terminals">
      <form
        className="grid gap-3 rounded-lg border border-zinc-800 bg-zinc-900/40 p-3 sm:grid-cols-[10rem_1fr_8rem_10rem] sm:items-end"
        onSubmit={(e) => {
          e.preventDefault();
          openExec();
        }}
        data-testid="terminal-form"
      >
        <SelectField label="Command" value={command} onChange={(e) => setCommand(e.target.value)} data-testid="terminal-command" disabled={!canExec}>
          {COMMANDS.map((c) => (
            <option key={c} value={c}>
              {c}
            </option>
          ))}
          <option value="custom">Other…</option>
        </SelectField>
        {command === "custom" ? (
          <Field label="Command line" value={custom} onChange={(e) => setCustom(e.target.value)} placeholder="top -d 1" data-testid="terminal-custom" className="font-mono" />
        ) : (
          <Field label="Working directory" value={workingDir} onChange={(e) => setWorkingDir(e.target.value)} placeholder="the image's (e.g. /app)" data-testid="terminal-workdir" disabled={!canExec} />
        )}
        <Field label="User" value={user} onChange={(e) => setUser(e.target.value)} placeholder="the image's" data-testid="terminal-user" disabled={!canExec} />
        <div className="flex gap-2">
          <Button type="submit" variant="primary" disabled={!canExec || !running} data-testid="terminal-open" title={canExec ? undefined : 'You need the "container.exec" permission'}>
            <SquareTerminal className="size-4" aria-hidden />
            Open
          </Button>
          <Button
            type="button"
            disabled={!canAttach || !running}
            data-testid="terminal-attach"
            title={canExec ? "Attach to the main process (docker attach)" : "Watch the main process (read-only without container.exec)"}
            onClick={() => add("main process", { mode: "attach", hostId, containerId })}
          >
            Attach
          </Button>
        </div>
        <details className="sm:col-span-4">
          <summary className="cursor-pointer text-xs text-zinc-400 select-none">Environment {env.trim() ? `(${env.trim().split("\n").length})` : ""}</summary>
          <textarea
            value={env}
            onChange={(e) => setEnv(e.target.value)}
            rows={3}
            placeholder={"KEY=value, one per line"}
            className="mt-2 w-full rounded-md border border-zinc-800 bg-zinc-950 p-2 font-mono text-xs text-zinc-200 outline-none focus:border-sky-600"
            data-testid="terminal-env"
          />
        </details>
        {error ? (
          <div className="sm:col-span-4">
            <FormError>{error}</FormError>
          </div>
        ) : null}
      </form>

      {sessions.length > 0 ? (
        <div className="overflow-hidden rounded-lg border border-zinc-800">
          <div role="tablist" aria-label="Terminals" className="flex items-center gap-px overflow-x-auto border-b border-zinc-800 bg-zinc-900/60">
            {sessions.map((s) => (
              <div
                key={s.key}
                role="tab"
                aria-selected={active === s.key}
                data-testid="terminal-tab"
                className={cx("flex items-center gap-2 px-3 py-1.5 text-xs", active === s.key ? "bg-zinc-950 text-zinc-100" : "text-zinc-400 hover:text-zinc-200")}
              >
                <button type="button" className="flex items-center gap-1.5 font-mono" onClick={() => setActive(s.key)}>
                  <span className={cx("inline-block size-1.5 rounded-full", s.status === "open" ? "bg-emerald-400" : s.status === "ended" ? "bg-zinc-600" : "bg-amber-400")} />
                  {s.title}
                </button>
                <button type="button" aria-label={`Close ${s.title}`} className="text-zinc-500 hover:text-zinc-200" onClick={() => close(s.key)}>
                  <X className="size-3" aria-hidden />
                </button>
              </div>
            ))}
            <button type="button" className="px-2 text-zinc-500 hover:text-zinc-200" aria-label="New terminal" disabled={!canExec || !running} onClick={openExec}>
              <Plus className="size-3.5" aria-hidden />
            </button>
          </div>
          {sessions.map((s) => (
            <div key={s.key} className={cx("h-[60vh]", active === s.key ? "block" : "hidden")}>
              <TerminalView
                spec={s.spec}
                active={visible && active === s.key}
                onStatus={(status) => setSessions((list) => list.map((x) => (x.key === s.key ? { ...x, status } : x)))}
              />
            </div>
          ))}
        </div>
      ) : (
        <p className="py-4 text-center text-xs text-zinc-500">
          Every terminal is recorded for the audit log. {canExec ? "Open a shell or attach to the main process." : "You can watch the main process (read-only)."}
        </p>
      )}
    </div>
  );
}
