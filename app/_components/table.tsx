"use client";

import { ArrowDown, ArrowUp, ChevronsUpDown, Search } from "lucide-react";
import { useMemo, useState, type ReactNode } from "react";
import { cx } from "../_lib/cx";

export type SortDir = "asc" | "desc";
export type SortState<K extends string> = { key: K; dir: SortDir };
type SortValue = string | number | null | undefined;

/**
 * Client-side sorting for a table: click a header to sort by it, click again
 * to flip. `accessors` maps each sortable column to a comparable value; keep
 * it a module-level constant so the memo holds.
 */
export function useSortedRows<T, K extends string>(rows: T[], accessors: Record<K, (row: T) => SortValue>, initial: SortState<NoInfer<K>>) {
  const [sort, setSort] = useState<SortState<K>>(initial);
  const sorted = useMemo(() => {
    const get = accessors[sort.key];
    const factor = sort.dir === "asc" ? 1 : -1;
    return [...rows].sort((a, b) => factor * compare(get(a), get(b)));
  }, [rows, sort, accessors]);
  const toggle = (key: K) =>
    setSort((current) => (current.key === key ? { key, dir: current.dir === "asc" ? "desc" : "asc" } : { key, dir: "asc" }));
  return { sorted, sort, toggle };
}

function compare(a: SortValue, b: SortValue): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return 1;
  if (b === null || b === undefined) return -1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: "base" });
}

export function SortHeader<K extends string>({
  label,
  column,
  sort,
  onSort,
  className,
  align = "left",
}: {
  label: string;
  column: K;
  sort: SortState<K>;
  onSort: (key: K) => void;
  className?: string;
  align?: "left" | "right";
}) {
  const active = sort.key === column;
  const Icon = !active ? ChevronsUpDown : sort.dir === "asc" ? ArrowUp : ArrowDown;
  return (
    <th
      scope="col"
      aria-sort={active ? (sort.dir === "asc" ? "ascending" : "descending") : "none"}
      className={cx("px-3 py-2 font-medium", align === "right" && "text-right", className)}
    >
      <button
        type="button"
        data-testid={`sort-${column}`}
        onClick={() => onSort(column)}
        className={cx(
          "group inline-flex items-center gap-1 rounded uppercase transition-colors hover:text-zinc-200",
          active ? "text-zinc-200" : "text-zinc-500",
          align === "right" && "flex-row-reverse",
        )}
      >
        {label}
        <Icon className={cx("size-3", active ? "opacity-100" : "opacity-0 group-hover:opacity-60")} aria-hidden />
      </button>
    </th>
  );
}

export function PlainHeader({ label, className }: { label: string; className?: string }) {
  return (
    <th scope="col" className={cx("px-3 py-2 font-medium text-zinc-500 uppercase", className)}>
      {label}
    </th>
  );
}

/** The frame every data table sits in: rounded panel, sticky header, dense rows. */
export function TableFrame({ children, toolbar, footer }: { children: ReactNode; toolbar?: ReactNode; footer?: ReactNode }) {
  return (
    <div className="overflow-hidden rounded-lg border border-zinc-800 bg-zinc-900/40">
      {toolbar ? <div className="flex flex-wrap items-center gap-2 border-b border-zinc-800 px-3 py-2">{toolbar}</div> : null}
      <div className="overflow-x-auto">
        <table className="w-full border-collapse text-left text-[13px] [&_thead]:text-[11px] [&_thead]:tracking-wide">{children}</table>
      </div>
      {footer ? <div className="border-t border-zinc-800 px-3 py-1.5 text-xs text-zinc-500">{footer}</div> : null}
    </div>
  );
}

export function FilterInput({ value, onChange, placeholder, label }: { value: string; onChange: (v: string) => void; placeholder: string; label: string }) {
  return (
    <div className="relative">
      <Search className="pointer-events-none absolute top-1/2 left-2.5 size-3.5 -translate-y-1/2 text-zinc-500" aria-hidden />
      <input
        type="search"
        aria-label={label}
        value={value}
        onChange={(e) => onChange(e.target.value)}
        placeholder={placeholder}
        className="h-7 w-64 rounded-md border border-zinc-700 bg-zinc-900 pr-2 pl-8 text-xs text-zinc-100 outline-none placeholder:text-zinc-500 focus:border-sky-500 focus:ring-2 focus:ring-sky-500/25"
      />
    </div>
  );
}

/** A row spanning the whole table for "nothing here" messages. */
export function EmptyRow({ colSpan, children }: { colSpan: number; children: ReactNode }) {
  return (
    <tr>
      <td colSpan={colSpan} className="px-3 py-10 text-center text-sm text-zinc-500">
        {children}
      </td>
    </tr>
  );
}
