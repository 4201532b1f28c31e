"use client";

import { useEffect, useLayoutEffect, useRef, useState, type ReactNode } from "react";
import { createPortal } from "react-dom";
import { cx } from "../_lib/cx";

/**
 * A small dropdown: a trigger and a list of items. Closes on outside click,
 * Esc, scroll, and after an item is chosen. The list is portalled with fixed
 * coordinates so a table's overflow cannot clip it, and opens upwards when
 * there is no room below.
 */
export function Menu({
  trigger,
  children,
  align = "right",
  label,
  testId,
  triggerClassName,
}: {
  trigger: ReactNode;
  children: (close: () => void) => ReactNode;
  align?: "left" | "right";
  label: string;
  testId?: string;
  triggerClassName?: string;
}) {
  const [open, setOpen] = useState(false);
  const [position, setPosition] = useState<{ top: number; left: number; up: boolean } | null>(null);
  const root = useRef<HTMLDivElement>(null);
  const list = useRef<HTMLDivElement>(null);

  useLayoutEffect(() => {
    if (!open) return setPosition(null);
    const trigger = root.current?.getBoundingClientRect();
    const height = list.current?.offsetHeight ?? 0;
    const width = list.current?.offsetWidth ?? 0;
    if (!trigger) return;
    const up = trigger.bottom + 6 + height > window.innerHeight && trigger.top - 6 - height > 0;
    setPosition({
      top: up ? trigger.top - 6 - height : trigger.bottom + 6,
      left: Math.max(8, align === "right" ? trigger.right - width : trigger.left),
      up,
    });
  }, [open, align]);

  useEffect(() => {
    if (!open) return;
    const onPointer = (event: PointerEvent) => {
      const target = event.target as Node;
      if (!root.current?.contains(target) && !list.current?.contains(target)) setOpen(false);
    };
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") setOpen(false);
    };
    const onMove = () => setOpen(false);
    document.addEventListener("pointerdown", onPointer);
    document.addEventListener("keydown", onKey);
    window.addEventListener("scroll", onMove, true);
    window.addEventListener("resize", onMove);
    return () => {
      document.removeEventListener("pointerdown", onPointer);
      document.removeEventListener("keydown", onKey);
      window.removeEventListener("scroll", onMove, true);
      window.removeEventListener("resize", onMove);
    };
  }, [open]);

  return (
    <div ref={root} className="relative inline-flex">
      <button
        type="button"
        aria-haspopup="menu"
        aria-expanded={open}
        aria-label={label}
        data-testid={testId}
        onClick={() => setOpen((o) => !o)}
        className={cx("inline-flex items-center transition-colors", triggerClassName)}
      >
        {trigger}
      </button>
      {open
        ? createPortal(
            <div
              ref={list}
              role="menu"
              style={position ? { top: position.top, left: position.left } : { top: 0, left: 0, visibility: "hidden" }}
              className="fixed z-40 min-w-48 overflow-hidden rounded-lg border border-zinc-700/80 bg-zinc-900 py-1 shadow-xl shadow-black/50"
            >
              {children(() => setOpen(false))}
            </div>,
            document.body,
          )
        : null}
    </div>
  );
}

export function MenuItem({
  children,
  onSelect,
  icon,
  danger,
  testId,
  disabled,
}: {
  children: ReactNode;
  onSelect: () => void;
  icon?: ReactNode;
  danger?: boolean;
  testId?: string;
  disabled?: boolean;
}) {
  return (
    <button
      type="button"
      role="menuitem"
      data-testid={testId}
      disabled={disabled}
      onClick={onSelect}
      className={cx(
        "flex w-full items-center gap-2 px-3 py-1.5 text-left text-[13px] transition-colors disabled:cursor-not-allowed disabled:opacity-40",
        danger ? "text-red-300 hover:bg-red-500/10" : "text-zinc-200 hover:bg-zinc-800",
      )}
    >
      {icon ? <span className="text-zinc-500 [&_svg]:size-3.5">{icon}</span> : null}
      {children}
    </button>
  );
}

export function MenuSeparator() {
  return <div role="separator" className="my-1 border-t border-zinc-800" />;
}

export function MenuLabel({ children }: { children: ReactNode }) {
  return <div className="px-3 pt-1.5 pb-1 text-[11px] font-medium tracking-wide text-zinc-500 uppercase">{children}</div>;
}
