"use client";

import { Monitor, Moon, Sun } from "lucide-react";
import { useTheme, type ThemePreference } from "../_lib/theme";
import { cx } from "../_lib/cx";

const OPTIONS: Array<{ value: ThemePreference; label: string; Icon: typeof Sun }> = [
  { value: "light", label: "Light", Icon: Sun },
  { value: "dark", label: "Dark", Icon: Moon },
  { value: "system", label: "System", Icon: Monitor },
];

/** Light / dark / follow the system: remembered in this browser (app/_lib/theme.ts). */
export function ThemeToggle({ testIdPrefix = "theme", showLabels = false }: { testIdPrefix?: string; showLabels?: boolean }) {
  const { preference, setPreference } = useTheme();
  return (
    <div role="radiogroup" aria-label="Theme" className="inline-flex items-center gap-0.5 rounded-md border border-zinc-800 p-0.5">
      {OPTIONS.map(({ value, label, Icon }) => {
        const active = preference === value;
        return (
          <button
            key={value}
            type="button"
            role="radio"
            aria-checked={active}
            aria-label={`${label} theme`}
            title={`${label} theme`}
            data-testid={`${testIdPrefix}-${value}`}
            onClick={() => setPreference(value)}
            className={cx(
              "inline-flex h-6 items-center gap-1.5 rounded px-1.5 text-xs transition-colors",
              active ? "bg-zinc-800 text-zinc-100" : "text-zinc-500 hover:bg-zinc-900 hover:text-zinc-200",
            )}
          >
            <Icon className="size-3.5" aria-hidden />
            {showLabels ? label : null}
          </button>
        );
      })}
    </div>
  );
}
