"use client";

/**
 * Light / dark theme. The preference (light, dark or system) is kept in
 * localStorage; the theme in force is `data-theme` on <html>, which
 * app/globals.css turns into a palette. THEME_SCRIPT (./theme-script.ts) runs
 * in <head> before the first paint, so a page never flashes the wrong theme.
 */
import { useCallback, useEffect, useSyncExternalStore } from "react";
import { LIGHT_QUERY, THEME_STORAGE_KEY } from "./theme-script";

export type ThemePreference = "light" | "dark" | "system";
const PREFERENCES: ThemePreference[] = ["light", "dark", "system"];

function readPreference(): ThemePreference {
  try {
    const stored = localStorage.getItem(THEME_STORAGE_KEY);
    return PREFERENCES.includes(stored as ThemePreference) ? (stored as ThemePreference) : "system";
  } catch {
    return "system";
  }
}

function applyTheme(preference: ThemePreference) {
  const theme = preference === "system" ? (window.matchMedia(LIGHT_QUERY).matches ? "light" : "dark") : preference;
  document.documentElement.dataset.theme = theme;
  document.documentElement.style.colorScheme = theme;
}

const listeners = new Set<() => void>();

function subscribe(listener: () => void) {
  listeners.add(listener);
  // Another tab changed the preference.
  const onStorage = (event: StorageEvent) => {
    if (event.key === THEME_STORAGE_KEY) {
      applyTheme(readPreference());
      listener();
    }
  };
  window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(listener);
    window.removeEventListener("storage", onStorage);
  };
}

/** The stored preference and a setter that remembers and applies it. */
export function useTheme(): { preference: ThemePreference; setPreference: (preference: ThemePreference) => void } {
  // The server cannot know the preference: it renders "system" and the client corrects it after hydration.
  const preference = useSyncExternalStore(subscribe, readPreference, () => "system" as const);

  // While following the system, follow its changes too.
  useEffect(() => {
    if (preference !== "system") return;
    const media = window.matchMedia(LIGHT_QUERY);
    const onChange = () => applyTheme("system");
    media.addEventListener("change", onChange);
    return () => media.removeEventListener("change", onChange);
  }, [preference]);

  const setPreference = useCallback((next: ThemePreference) => {
    try {
      if (next === "system") localStorage.removeItem(THEME_STORAGE_KEY);
      else localStorage.setItem(THEME_STORAGE_KEY, next);
    } catch {
      // Private mode without storage: the choice lasts for this page only.
    }
    applyTheme(next);
    for (const listener of listeners) listener();
  }, []);

  return { preference, setPreference };
}
