"use client";

/**
 * Small building blocks with Berth's look: dense, dark, neutral, one accent.
 * Kept local instead of a component kit: a handful of elements is all the
 * console needs.
 */
import { LoaderCircle } from "lucide-react";
import { useId, type ComponentProps, type ReactNode } from "react";
import { cx } from "../_lib/cx";

export { cx };

type ButtonVariant = "primary" | "secondary" | "ghost" | "danger";
type ButtonSize = "xs" | "sm" | "md";

const BUTTON_VARIANTS: Record<ButtonVariant, string> = {
  primary: "bg-sky-600 text-white hover:bg-sky-500 border border-sky-500/60 shadow-sm shadow-sky-950/40",
  secondary: "bg-zinc-800/80 text-zinc-100 hover:bg-zinc-700/80 border border-zinc-700",
  ghost: "text-zinc-300 hover:bg-zinc-800 hover:text-zinc-100 border border-transparent",
  danger: "bg-red-600/90 text-white hover:bg-red-500 border border-red-500/60",
};

const BUTTON_SIZES: Record<ButtonSize, string> = {
  xs: "h-6 px-2 text-xs gap-1 rounded",
  sm: "h-7 px-2.5 text-xs gap-1.5 rounded-md",
  md: "h-9 px-3.5 text-sm gap-2 rounded-md",
};

/** Button look for things that are not <button>s (e.g. a Next <Link>). */
export function buttonClasses(variant: ButtonVariant = "secondary", size: ButtonSize = "md", className?: string): string {
  return cx(
    "inline-flex shrink-0 items-center justify-center font-medium whitespace-nowrap transition-colors select-none",
    "disabled:cursor-not-allowed disabled:opacity-40",
    BUTTON_VARIANTS[variant],
    BUTTON_SIZES[size],
    className,
  );
}

export type ButtonProps = ComponentProps<"button"> & {
  variant?: ButtonVariant;
  size?: ButtonSize;
  loading?: boolean;
  icon?: ReactNode;
};

export function Button({
  variant = "secondary",
  size = "md",
  loading = false,
  icon,
  className,
  children,
  disabled,
  type = "button",
  ...rest
}: ButtonProps) {
  return (
    <button
      type={type}
      disabled={disabled || loading}
      aria-busy={loading || undefined}
      className={buttonClasses(variant, size, cx(loading && "cursor-wait disabled:opacity-100", className))}
      {...rest}
    >
      {loading ? <Spinner className="size-3.5" /> : icon}
      {children}
    </button>
  );
}

export function Spinner({ className, label }: { className?: string; label?: string }) {
  return <LoaderCircle aria-label={label ?? "Loading"} role="status" className={cx("animate-spin", className ?? "size-4")} />;
}

export type FieldProps = ComponentProps<"input"> & {
  label: string;
  hint?: ReactNode;
  error?: string | null;
};

/** A labelled input; the label is a real <label>, so tests and screen readers find it by name. */
export function Field({ label, hint, error, className, id, ...rest }: FieldProps) {
  const autoId = useId();
  const inputId = id ?? autoId;
  const hintId = hint ? `${inputId}-hint` : undefined;
  return (
    <div className={cx("flex flex-col gap-1.5", className)}>
      <label htmlFor={inputId} className="text-xs font-medium text-zinc-300">
        {label}
      </label>
      <Input id={inputId} aria-describedby={hintId} aria-invalid={error ? true : undefined} {...rest} />
      {hint ? (
        <p id={hintId} className="text-xs text-zinc-500">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export function Input({ className, ...rest }: ComponentProps<"input">) {
  return (
    <input
      className={cx(
        "h-9 w-full rounded-md border border-zinc-700 bg-zinc-900 px-3 text-sm text-zinc-100 placeholder:text-zinc-500",
        "transition-colors outline-none focus:border-sky-500 focus:ring-2 focus:ring-sky-500/25",
        "aria-invalid:border-red-500/70",
        className,
      )}
      {...rest}
    />
  );
}

/** An inline error box for forms (stays until the next attempt). */
export function FormError({ children }: { children: ReactNode }) {
  return (
    <div role="alert" data-testid="form-error" className="rounded-md border border-red-500/30 bg-red-500/10 px-3 py-2 text-xs text-red-200">
      {children}
    </div>
  );
}

/** A hover/focus tooltip that also works around disabled buttons (which swallow mouse events). */
export function Tooltip({
  content,
  children,
  className,
  side = "top",
}: {
  content: ReactNode;
  children: ReactNode;
  className?: string;
  side?: "top" | "bottom";
}) {
  if (!content) return <>{children}</>;
  return (
    <span className={cx("group/tip relative inline-flex", className)}>
      {children}
      <span
        role="tooltip"
        className={cx(
          "pointer-events-none absolute right-0 z-30 w-max max-w-64 rounded-md border border-zinc-700 bg-zinc-800 px-2 py-1",
          "text-xs font-normal whitespace-normal text-zinc-200 opacity-0 shadow-lg transition-opacity delay-150",
          "group-focus-within/tip:opacity-100 group-hover/tip:opacity-100",
          side === "top" ? "bottom-full mb-1.5" : "top-full mt-1.5",
        )}
      >
        {content}
      </span>
    </span>
  );
}

export function Kbd({ children }: { children: ReactNode }) {
  return <kbd className="rounded border border-zinc-700 bg-zinc-800 px-1 font-mono text-[10px] text-zinc-400">{children}</kbd>;
}

export function Select({ className, children, ...rest }: ComponentProps<"select">) {
  return (
    <select
      className={cx(
        "h-9 w-full rounded-md border border-zinc-700 bg-zinc-900 px-2.5 text-sm text-zinc-100",
        "transition-colors outline-none focus:border-sky-500 focus:ring-2 focus:ring-sky-500/25 disabled:opacity-50",
        className,
      )}
      {...rest}
    >
      {children}
    </select>
  );
}

/** A labelled <select>, laid out like {@link Field}. */
export function SelectField({ label, hint, className, id, children, ...rest }: ComponentProps<"select"> & { label: string; hint?: ReactNode }) {
  const autoId = useId();
  const selectId = id ?? autoId;
  return (
    <div className={cx("flex flex-col gap-1.5", className)}>
      <label htmlFor={selectId} className="text-xs font-medium text-zinc-300">
        {label}
      </label>
      <Select id={selectId} {...rest}>
        {children}
      </Select>
      {hint ? <p className="text-xs text-zinc-500">{hint}</p> : null}
    </div>
  );
}

/** A checkbox with its label (and an optional second line) to the right. */
export function Checkbox({ label, description, className, ...rest }: Omit<ComponentProps<"input">, "type"> & { label: ReactNode; description?: ReactNode }) {
  return (
    <label className={cx("flex cursor-pointer items-start gap-2.5 text-[13px] text-zinc-200 has-disabled:cursor-not-allowed has-disabled:opacity-50", className)}>
      <input type="checkbox" className="mt-0.5 size-3.5 shrink-0 accent-sky-500" {...rest} />
      <span className="min-w-0">
        <span className="block leading-snug">{label}</span>
        {description ? <span className="block text-xs text-zinc-500">{description}</span> : null}
      </span>
    </label>
  );
}

/** A page's title row: heading, one line of context, actions on the right. */
export function PageHeader({ title, description, actions, testId }: { title: ReactNode; description?: ReactNode; actions?: ReactNode; testId?: string }) {
  return (
    <div className="flex flex-wrap items-end justify-between gap-4" data-testid={testId}>
      <div className="min-w-0">
        <h1 className="text-xl font-semibold tracking-tight text-zinc-100">{title}</h1>
        {description ? <p className="mt-0.5 text-xs text-zinc-500">{description}</p> : null}
      </div>
      {actions ? <div className="flex items-center gap-2">{actions}</div> : null}
    </div>
  );
}

/** A titled panel for the sections of settings and account pages. */
export function Section({
  title,
  description,
  actions,
  children,
  testId,
  flush = false,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  testId?: string;
  /** No inner padding: for a table that fills the panel. */
  flush?: boolean;
}) {
  return (
    <section data-testid={testId} className="overflow-hidden rounded-lg border border-zinc-800 bg-zinc-900/40">
      <header className="flex flex-wrap items-center justify-between gap-3 border-b border-zinc-800 px-4 py-3">
        <div className="min-w-0">
          <h2 className="text-sm font-semibold text-zinc-100">{title}</h2>
          {description ? <p className="mt-0.5 text-xs text-zinc-500">{description}</p> : null}
        </div>
        {actions ? <div className="flex items-center gap-2">{actions}</div> : null}
      </header>
      <div className={flush ? "" : "px-4 py-4"}>{children}</div>
    </section>
  );
}

/** A short label for a permission key or token prefix. */
export function Code({ children, className }: { children: ReactNode; className?: string }) {
  return <code className={cx("rounded border border-zinc-800 bg-zinc-950 px-1 py-px font-mono text-[11px] text-zinc-300", className)}>{children}</code>;
}
