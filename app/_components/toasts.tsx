"use client";

import { CircleAlert, CircleCheck, X } from "lucide-react";
import { createContext, useCallback, useContext, useMemo, useRef, useState, type ReactNode } from "react";
import { cx } from "../_lib/cx";

type ToastTone = "error" | "success";
type Toast = { id: number; tone: ToastTone; title: string; message?: string };
type ToastApi = {
  /** Errors stay until dismissed: the person must get to read Docker's own text. */
  error(title: string, message?: string): void;
  success(title: string, message?: string): void;
};

const ToastContext = createContext<ToastApi | null>(null);

export function useToasts(): ToastApi {
  const api = useContext(ToastContext);
  if (!api) throw new Error("useToasts must be used inside <ToastProvider>");
  return api;
}

const SUCCESS_TTL_MS = 4_000;
const MAX_TOASTS = 5;

export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<Toast[]>([]);
  const nextId = useRef(1);

  const dismiss = useCallback((id: number) => setToasts((list) => list.filter((t) => t.id !== id)), []);

  const push = useCallback(
    (tone: ToastTone, title: string, message?: string) => {
      const id = nextId.current++;
      setToasts((list) => [...list, { id, tone, title, message }].slice(-MAX_TOASTS));
      if (tone === "success") setTimeout(() => dismiss(id), SUCCESS_TTL_MS);
    },
    [dismiss],
  );

  const api = useMemo<ToastApi>(
    () => ({ error: (title, message) => push("error", title, message), success: (title, message) => push("success", title, message) }),
    [push],
  );

  return (
    <ToastContext.Provider value={api}>
      {children}
      <div aria-live="polite" className="pointer-events-none fixed right-4 bottom-4 z-50 flex w-96 max-w-[calc(100vw-2rem)] flex-col gap-2">
        {toasts.map((toast) => (
          <div
            key={toast.id}
            role={toast.tone === "error" ? "alert" : "status"}
            data-testid={`toast-${toast.tone}`}
            className={cx(
              "animate-toast-in pointer-events-auto flex items-start gap-3 rounded-lg border px-3.5 py-3 shadow-xl shadow-black/40 backdrop-blur",
              toast.tone === "error" ? "border-red-500/40 bg-zinc-900/95" : "border-emerald-500/30 bg-zinc-900/95",
            )}
          >
            {toast.tone === "error" ? (
              <CircleAlert className="mt-0.5 size-4 shrink-0 text-red-400" aria-hidden />
            ) : (
              <CircleCheck className="mt-0.5 size-4 shrink-0 text-emerald-400" aria-hidden />
            )}
            <div className="min-w-0 flex-1">
              <p className="text-sm font-medium text-zinc-100">{toast.title}</p>
              {toast.message ? (
                <p data-testid="toast-message" className="mt-0.5 font-mono text-xs break-words text-zinc-400">
                  {toast.message}
                </p>
              ) : null}
            </div>
            <button
              type="button"
              aria-label="Dismiss"
              onClick={() => dismiss(toast.id)}
              className="-m-1 rounded p-1 text-zinc-500 transition-colors hover:bg-zinc-800 hover:text-zinc-200"
            >
              <X className="size-3.5" />
            </button>
          </div>
        ))}
      </div>
    </ToastContext.Provider>
  );
}
