"use client";

import { X } from "lucide-react";
import { useEffect, useRef, type ReactNode } from "react";
import { cx } from "../_lib/cx";

/**
 * A modal on the native <dialog>: focus trapping, Esc and the top layer come
 * from the browser. Clicking the backdrop closes it.
 */
export function Dialog({
  open,
  onClose,
  title,
  description,
  children,
  testId,
  className,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  description?: ReactNode;
  children: ReactNode;
  testId?: string;
  className?: string;
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
      aria-labelledby={testId ? `${testId}-title` : undefined}
      onClose={onClose}
      onClick={(event) => {
        if (event.target === ref.current) onClose();
      }}
      className={cx(
        "m-auto w-[34rem] max-w-[calc(100vw-2rem)] rounded-xl border border-zinc-700/80 bg-zinc-900 p-0 text-zinc-200 shadow-2xl shadow-black/60",
        "backdrop:bg-black/60 backdrop:backdrop-blur-[2px]",
        className,
      )}
    >
      {open ? (
        <div className="flex flex-col">
          <header className="flex items-start justify-between gap-4 border-b border-zinc-800 px-5 py-4">
            <div>
              <h2 id={testId ? `${testId}-title` : undefined} className="text-base font-semibold text-zinc-100">
                {title}
              </h2>
              {description ? <p className="mt-1 text-xs text-zinc-400">{description}</p> : null}
            </div>
            <button
              type="button"
              aria-label="Close"
              onClick={onClose}
              className="-m-1 rounded p-1 text-zinc-500 transition-colors hover:bg-zinc-800 hover:text-zinc-200"
            >
              <X className="size-4" />
            </button>
          </header>
          <div className="px-5 py-4">{children}</div>
        </div>
      ) : null}
    </dialog>
  );
}
