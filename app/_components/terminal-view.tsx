"use client";

/**
 * One interactive terminal: xterm.js (fit, search and web-links addons) wired
 * to a `terminal:open` or `terminal:attach` session on the /browser socket.
 *
 * - Output arrives as raw bytes and is written as bytes (xterm decodes UTF-8
 *   across frames); each frame is acknowledged only once xterm has parsed it
 *   (its write callback), so a flood is paced by what this page can draw.
 * - Resize follows the element (ResizeObserver → fit → `terminal:resize`).
 * - Copy/paste: Ctrl+Shift+C / Ctrl+Shift+V (Ctrl+C stays ^C for the
 *   program), plus the toolbar buttons; a paste larger than one input frame
 *   is sent in pieces, in order.
 * - When the session ends (exit, idle timeout, revoked access, lost
 *   connection) the reason is written into the terminal and "Reconnect" opens
 *   a new session in the same view.
 */
import type { FitAddon } from "@xterm/addon-fit";
import type { SearchAddon } from "@xterm/addon-search";
import type { Terminal } from "@xterm/xterm";
import "@xterm/xterm/css/xterm.css";
import { ArrowDown, ArrowUp, ClipboardPaste, Copy, Maximize2, RotateCcw, Search } from "lucide-react";
import { useCallback, useEffect, useRef, useState } from "react";
import { TERMINAL_INPUT_MAX_CHARS } from "../../agent/protocol";
import { ClientEvent, ServerEvent, terminalDataBytes, type TTerminalData, type TTerminalEnd, type TTerminalOpened } from "../../server/gateway/browser-protocol";
import { browserSocket, request } from "../_lib/browser-socket";
import { copyText } from "../_lib/clipboard";
import { Button, cx } from "./ui";

export type TerminalSpec =
  | { mode: "exec"; hostId: string; containerId: string; cmd: string[]; user: string; workingDir: string; env: string[] }
  | { mode: "attach"; hostId: string; containerId: string };

export type TerminalStatus = "connecting" | "open" | "ended";

type Props = {
  spec: TerminalSpec;
  /** Shown while this terminal is the visible tab (fit and focus happen then). */
  active: boolean;
  onStatus?: (status: TerminalStatus, detail: { readOnly: boolean; reason: string | null }) => void;
};

const THEME = {
  background: "#09090b",
  foreground: "#e4e4e7",
  cursor: "#7dd3fc",
  selectionBackground: "#0ea5e955",
};

export function TerminalView({ spec, active, onStatus }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const frame = useRef<HTMLDivElement>(null);
  const term = useRef<Terminal | null>(null);
  const fit = useRef<FitAddon | null>(null);
  const search = useRef<SearchAddon | null>(null);
  const session = useRef<{ terminalId: string | null; ended: boolean }>({ terminalId: null, ended: true });
  const [status, setStatus] = useState<TerminalStatus>("connecting");
  const [readOnly, setReadOnly] = useState(false);
  const [reason, setReason] = useState<string | null>(null);
  const [query, setQuery] = useState("");
  const statusRef = useRef(onStatus);
  statusRef.current = onStatus;

  const report = useCallback((next: TerminalStatus, detail: { readOnly: boolean; reason: string | null }) => {
    setStatus(next);
    setReadOnly(detail.readOnly);
    setReason(detail.reason);
    statusRef.current?.(next, detail);
  }, []);

  /** Ends the view's session locally and says why in the terminal itself. */
  const showEnd = useCallback(
    (end: { reason: string | null; exitCode: number | null }) => {
      if (session.current.ended) return;
      session.current = { terminalId: null, ended: true };
      const text = end.reason ?? `process exited${end.exitCode === null ? "" : ` with code ${end.exitCode}`}`;
      term.current?.write(`\r\n\x1b[90m[${text}]\x1b[0m\r\n`);
      report("ended", { readOnly: false, reason: text });
    },
    [report],
  );

  const open = useCallback(async () => {
    const t = term.current;
    if (!t) return;
    session.current = { terminalId: null, ended: false };
    report("connecting", { readOnly: false, reason: null });
    const size = { cols: t.cols, rows: t.rows };
    const answer =
      spec.mode === "exec"
        ? await request<TTerminalOpened>(ClientEvent.terminalOpen, { hostId: spec.hostId, containerId: spec.containerId, cmd: spec.cmd, user: spec.user, workingDir: spec.workingDir, env: spec.env, ...size })
        : await request<TTerminalOpened>(ClientEvent.terminalAttach, { hostId: spec.hostId, containerId: spec.containerId, ...size });
    if (!answer.ok) {
      showEnd({ reason: answer.message, exitCode: null });
      return;
    }
    if (session.current.ended) {
      // Unmounted or reconnected while opening: let the server end it.
      void request(ClientEvent.terminalClose, { terminalId: answer.terminalId });
      return;
    }
    session.current.terminalId = answer.terminalId;
    t.options.disableStdin = answer.readOnly;
    report("open", { readOnly: answer.readOnly, reason: null });
    // The element may have changed size while the session started.
    if (t.cols !== size.cols || t.rows !== size.rows) void request(ClientEvent.terminalResize, { terminalId: answer.terminalId, cols: t.cols, rows: t.rows });
    if (answer.readOnly) t.write("\x1b[90m[attached read-only: you can watch, not type]\x1b[0m\r\n");
  }, [spec, report, showEnd]);

  // Create xterm once; it is loaded on the client only (it needs a DOM).
  useEffect(() => {
    let disposed = false;
    const socket = browserSocket();
    const onData = (data: TTerminalData) => {
      if (data.terminalId !== session.current.terminalId) return;
      // Written as bytes either way (a text frame is whole UTF-8), so xterm's decoder sees one byte stream.
      const bytes = terminalDataBytes(data);
      term.current?.write(bytes, () => {
        if (data.terminalId === session.current.terminalId) socket.emit(ClientEvent.terminalAck, { terminalId: data.terminalId, seq: data.seq });
      });
    };
    const onEnd = (end: TTerminalEnd) => {
      if (end.terminalId === session.current.terminalId) showEnd(end);
    };
    const onDisconnect = () => showEnd({ reason: "The connection to the server was lost", exitCode: null });
    socket.on(ServerEvent.terminalData, onData);
    socket.on(ServerEvent.terminalEnd, onEnd);
    socket.on("disconnect", onDisconnect);

    void (async () => {
      const [{ Terminal }, { FitAddon }, { SearchAddon }, { WebLinksAddon }] = await Promise.all([
        import("@xterm/xterm"),
        import("@xterm/addon-fit"),
        import("@xterm/addon-search"),
        import("@xterm/addon-web-links"),
      ]);
      if (disposed || !host.current) return;
      const t = new Terminal({
        cursorBlink: true,
        fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
        fontSize: 13,
        scrollback: 5000,
        theme: THEME,
        allowProposedApi: true,
      });
      const fitAddon = new FitAddon();
      const searchAddon = new SearchAddon();
      t.loadAddon(fitAddon);
      t.loadAddon(searchAddon);
      t.loadAddon(new WebLinksAddon());
      t.open(host.current);
      fitAddon.fit();
      term.current = t;
      fit.current = fitAddon;
      search.current = searchAddon;
      t.onData((data) => {
        const terminalId = session.current.terminalId;
        if (!terminalId) return;
        for (let at = 0; at < data.length; at += TERMINAL_INPUT_MAX_CHARS) {
          socket.emit(ClientEvent.terminalInput, { terminalId, data: data.slice(at, at + TERMINAL_INPUT_MAX_CHARS) });
        }
      });
      let resizeTimer: ReturnType<typeof setTimeout> | null = null;
      t.onResize(({ cols, rows }) => {
        if (resizeTimer) clearTimeout(resizeTimer);
        resizeTimer = setTimeout(() => {
          const terminalId = session.current.terminalId;
          if (terminalId) socket.emit(ClientEvent.terminalResize, { terminalId, cols, rows });
        }, 80);
      });
      // Ctrl+Shift+C / V copy and paste; plain Ctrl+C goes to the program as ^C.
      t.attachCustomKeyEventHandler((event) => {
        if (event.type !== "keydown" || !event.ctrlKey || !event.shiftKey) return true;
        if (event.code === "KeyC") {
          if (t.hasSelection()) void copyText(t.getSelection());
          return false;
        }
        if (event.code === "KeyV") {
          void navigator.clipboard?.readText().then((text) => text && t.paste(text)).catch(() => undefined);
          return false;
        }
        return true;
      });
      await open();
    })();

    return () => {
      disposed = true;
      socket.off(ServerEvent.terminalData, onData);
      socket.off(ServerEvent.terminalEnd, onEnd);
      socket.off("disconnect", onDisconnect);
      const terminalId = session.current.terminalId;
      session.current = { terminalId: null, ended: true };
      if (terminalId) void request(ClientEvent.terminalClose, { terminalId });
      term.current?.dispose();
      term.current = null;
    };
    // The spec is fixed for a view's lifetime (a new terminal is a new view).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  // Follow the element's size (window resize, full screen, tab shown again).
  useEffect(() => {
    const element = frame.current;
    if (!element) return;
    const observer = new ResizeObserver(() => {
      if (element.offsetWidth > 0 && element.offsetHeight > 0) fit.current?.fit();
    });
    observer.observe(element);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    if (!active) return;
    fit.current?.fit();
    term.current?.focus();
  }, [active]);

  const find = (direction: "next" | "previous") => {
    if (!query) return;
    const options = { caseSensitive: false, decorations: { matchOverviewRuler: "#0ea5e9", activeMatchColorOverviewRuler: "#f59e0b", matchBackground: "#0ea5e955", activeMatchBackground: "#f59e0b88" } };
    if (direction === "next") search.current?.findNext(query, options);
    else search.current?.findPrevious(query, options);
  };

  return (
    <div ref={frame} className="flex h-full min-h-0 flex-col bg-zinc-950" data-testid="terminal-view" data-status={status} data-read-only={readOnly || undefined}>
      <div className="flex flex-wrap items-center gap-2 border-b border-zinc-800 px-2 py-1.5 text-xs">
        <span
          data-testid="terminal-status"
          className={cx("inline-flex items-center gap-1.5", status === "open" ? "text-emerald-300" : status === "ended" ? "text-zinc-400" : "text-amber-300")}
        >
          <span className={cx("inline-block size-1.5 rounded-full", status === "open" ? "bg-emerald-400" : status === "ended" ? "bg-zinc-500" : "animate-pulse bg-amber-400")} />
          {status === "open" ? (readOnly ? "Attached · read-only" : "Connected") : status === "ended" ? (reason ?? "Ended") : "Connecting…"}
        </span>
        {status === "ended" ? (
          <Button size="sm" variant="primary" data-testid="terminal-reconnect" onClick={() => void open()}>
            <RotateCcw className="size-3.5" aria-hidden />
            Reconnect
          </Button>
        ) : null}
        <div className="ml-auto flex items-center gap-1">
          <label className="relative">
            <Search className="pointer-events-none absolute top-1/2 left-2 size-3 -translate-y-1/2 text-zinc-500" aria-hidden />
            <input
              aria-label="Search the terminal"
              data-testid="terminal-search"
              value={query}
              onChange={(e) => setQuery(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === "Enter") find(e.shiftKey ? "previous" : "next");
              }}
              placeholder="Search"
              className="h-7 w-36 rounded-md border border-zinc-800 bg-zinc-900 pr-2 pl-6 text-xs text-zinc-200 outline-none focus:border-sky-600"
            />
          </label>
          <Button size="sm" variant="ghost" aria-label="Previous match" onClick={() => find("previous")}>
            <ArrowUp className="size-3.5" aria-hidden />
          </Button>
          <Button size="sm" variant="ghost" aria-label="Next match" onClick={() => find("next")}>
            <ArrowDown className="size-3.5" aria-hidden />
          </Button>
          <Button size="sm" variant="ghost" title="Copy the selection (Ctrl+Shift+C)" onClick={() => term.current?.hasSelection() && void copyText(term.current.getSelection())}>
            <Copy className="size-3.5" aria-hidden />
            Copy
          </Button>
          <Button
            size="sm"
            variant="ghost"
            title="Paste (Ctrl+Shift+V)"
            disabled={readOnly || status !== "open"}
            onClick={() => void navigator.clipboard?.readText().then((text) => text && term.current?.paste(text)).catch(() => undefined)}
          >
            <ClipboardPaste className="size-3.5" aria-hidden />
            Paste
          </Button>
          <Button size="sm" variant="ghost" aria-label="Full screen" title="Full screen" onClick={() => void frame.current?.requestFullscreen?.()}>
            <Maximize2 className="size-3.5" aria-hidden />
          </Button>
        </div>
      </div>
      <div ref={host} className="min-h-0 flex-1 p-1.5" data-testid="terminal-screen" />
    </div>
  );
}
