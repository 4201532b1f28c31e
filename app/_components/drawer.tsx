"use client";

import { X } from "lucide-react";
import { useEffect, useRef, type ReactNode } from "react";
import { cx } from "../_lib/cx";

/**
 * A panel sliding over the right edge for the detail of a list row, on the
 * native <dialog> (Esc, focus, top layer from the browser). Clicking the
 * backdrop closes it.
 */
export function Drawer({
  open,
  onClose,
  title,
  subtitle,
  children,
  testId,
  wide = false,
}: {
  open: boolean;
  onClose: () => void;
  title: ReactNode;
  subtitle?: ReactNode;
  children: ReactNode;
  testId?: string;
  /** For content that wants room (a log, a terminal). */
  wide?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);

  return (
    <dialog
      ref={ref}
      data-testid={testId}
      onClose={onClose}
      onClick={(event) => {
        if (event.target === ref.current) onClose();
      }}
      className={cx(
        "fixed inset-y-0 right-0 left-auto m-0 h-dvh max-h-none max-w-[calc(100vw-2rem)] border-l border-zinc-700/80 bg-zinc-900 p-0 text-zinc-200 shadow-2xl shadow-black/60",
        wide ? "w-[72rem]" : "w-[40rem]",
        "backdrop:bg-black/50",
      )}
    >
      {open ? (
        <div className="flex h-full flex-col">
          <header className="flex items-start justify-between gap-4 border-b border-zinc-800 px-5 py-4">
            <div className="min-w-0">
              <h2 className="truncate text-base font-semibold text-zinc-100">{title}</h2>
              {subtitle ? <div className="mt-1 text-xs text-zinc-400">{subtitle}</div> : null}
            </div>
            <button
              type="button"
              aria-label="Close"
              data-testid={testId ? `${testId}-close` : undefined}
              onClick={onClose}
              className="-m-1 rounded p-1 text-zinc-500 transition-colors hover:bg-zinc-800 hover:text-zinc-200"
            >
              <X className="size-4" />
            </button>
          </header>
          <div className="min-h-0 flex-1 overflow-y-auto px-5 py-4">{children}</div>
        </div>
      ) : null}
    </dialog>
  );
}
