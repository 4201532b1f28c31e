import type { ReactNode } from "react";
import { BrandMark } from "../_components/brand";

/** Signed-out pages: one centered card on a quiet background. */
export default function AuthLayout({ children }: { children: ReactNode }) {
  return (
    <main className="relative flex min-h-screen items-center justify-center overflow-hidden px-4 py-12">
      <div
        aria-hidden
        className="pointer-events-none absolute inset-0 bg-[radial-gradient(ellipse_at_top,rgba(14,165,233,0.12),transparent_55%)]"
      />
      <div className="relative w-full max-w-md">
        <div className="mb-6 flex items-center justify-center gap-2.5">
          <BrandMark />
          <span className="text-lg font-semibold tracking-tight text-zinc-100">Berth</span>
        </div>
        <div className="rounded-xl border border-zinc-800 bg-zinc-900/80 p-6 shadow-2xl shadow-black/40 backdrop-blur">{children}</div>
      </div>
    </main>
  );
}
