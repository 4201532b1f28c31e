"use client";

import { useEffect, useState } from "react";

/**
 * Shown on the signed-out pages when the browser opened Berth at another
 * address than the one it is configured for (BERTH_PUBLIC_URL): the sign-in
 * endpoint only trusts that origin, so signing in here would fail with a bare
 * "Invalid origin". A self-hosted dashboard is often opened by IP or LAN name
 * first; this says where to go, or what to set, before anyone types a password.
 */
export function AddressNotice({ publicOrigin }: { publicOrigin: string }) {
  // Read after mount: the server renders without a window, and the first client render must match it.
  const [here, setHere] = useState<string | null>(null);
  useEffect(() => setHere(window.location.origin), []);
  if (!here || here === publicOrigin) return null;
  const there = `${publicOrigin}${window.location.pathname}`;
  return (
    <div role="status" data-testid="address-notice" className="rounded-md border border-amber-500/30 bg-amber-500/10 px-3 py-2 text-xs leading-relaxed text-amber-100">
      <p>
        This page is open at <strong className="font-semibold">{here}</strong>, but Berth is set up for{" "}
        <strong className="font-semibold">{publicOrigin}</strong>, and only accepts sign-ins there.
      </p>
      <p className="mt-1.5">
        <a href={there} className="font-medium text-sky-300 underline underline-offset-2" data-testid="address-notice-link">
          Open {publicOrigin}
        </a>{" "}
        or, to use this address, start Berth with <code className="rounded bg-black/30 px-1 break-all">BERTH_PUBLIC_URL={here}</code>.
      </p>
    </div>
  );
}

/** better-auth's refusal of a request from an untrusted origin, said in words a user can act on. */
export function explainOriginError(message: string, publicOrigin: string | undefined): string {
  if (!/invalid origin/i.test(message) || !publicOrigin) return message;
  return `Sign-in is only accepted at ${publicOrigin} (BERTH_PUBLIC_URL). Open Berth there, or set BERTH_PUBLIC_URL to this address.`;
}
