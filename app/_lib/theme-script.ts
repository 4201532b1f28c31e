/**
 * The theme's constants, shared by the root layout (a server component, which
 * inlines {@link THEME_SCRIPT}) and the client-side toggle (app/_lib/theme.ts).
 */
export const THEME_STORAGE_KEY = "berth-theme";
export const LIGHT_QUERY = "(prefers-color-scheme: light)";

/**
 * Inline in <head>: resolves the stored preference (or the system's scheme)
 * and sets `data-theme` on <html> before anything is drawn, so a page never
 * flashes the wrong theme. Tiny and dependency-free; a storage that throws
 * falls back to the system's scheme.
 */
export const THEME_SCRIPT = `(function(){var d=document.documentElement,p=null;try{p=localStorage.getItem(${JSON.stringify(THEME_STORAGE_KEY)})}catch(e){}var t=p==="light"||p==="dark"?p:(window.matchMedia&&window.matchMedia(${JSON.stringify(LIGHT_QUERY)}).matches?"light":"dark");d.dataset.theme=t;d.style.colorScheme=t})()`;
