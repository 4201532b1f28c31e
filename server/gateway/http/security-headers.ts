/**
 * Headers every response carries (pages, tRPC, auth, exports, downloads,
 * errors): set once in the http server, before any handler runs.
 *
 * CSP: scripts and styles from Berth's own origin, plus 'unsafe-inline' for
 * both. Next's App Router streams its payload in inline <script> tags, and
 * the statically prerendered pages cannot carry a per-request nonce; a nonce
 * would force every page to render per request. 'unsafe-inline' is the
 * minimum that keeps them working; what makes injected script harmless here
 * is React's escaping, and what the policy still closes is everything else:
 * no foreign script, frame, plugin, base or form target, and no framing of
 * Berth at all (frame-ancestors 'none', X-Frame-Options DENY for older
 * browsers). Dev mode adds 'unsafe-eval' (React's dev tooling needs it).
 * 'wasm-unsafe-eval' lets the session replay (asciinema-player) compile its
 * terminal emulator, shipped as WebAssembly inside Berth's own bundle; it
 * allows WebAssembly compilation only, not eval of JavaScript.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

export function securityHeaders(opts: { publicUrl: string; dev: boolean }): Record<string, string> {
  const csp = [
    "default-src 'self'",
    `script-src 'self' 'unsafe-inline' 'wasm-unsafe-eval'${opts.dev ? " 'unsafe-eval'" : ""}`,
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    // 'self' covers the same-origin ws:/wss: of socket.io in current browsers.
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join("; ");
  const headers: Record<string, string> = {
    "Content-Security-Policy": csp,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
  };
  // Only when browsers reach Berth over https: HSTS on plain http would be ignored at best.
  if (opts.publicUrl.startsWith("https://")) headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains";
  return headers;
}

export function applySecurityHeaders(res: ServerResponse, headers: Record<string, string>): void {
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
}

/**
 * A request another site made the browser send (a link, a form, a script's
 * fetch), by the browser's own Fetch Metadata. Session cookies are SameSite=Lax,
 * so a cross-site top-level GET still carries them: without this, a link on
 * any page could run a tRPC query (browsing a registry, reading disk usage)
 * in the visitor's name and into the audit trail. Clients that send no such
 * header (the CLI, scripts with a token) are not browsers and are not affected.
 */
export function isCrossSiteRequest(req: IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  return site !== undefined && site !== "same-origin" && site !== "none";
}
