import { Lock } from "lucide-react";
import Link from "next/link";

/** What a signed-in user without the rights sees instead of an admin page. */
export function AdminsOnly({ what = "Settings", verb = "are" }: { what?: string; verb?: string }) {
  return (
    <div role="alert" data-testid="admins-only" className="flex flex-col items-center gap-3 py-20 text-center">
      <span className="flex size-11 items-center justify-center rounded-full border border-zinc-800 bg-zinc-900">
        <Lock className="size-5 text-zinc-400" aria-hidden />
      </span>
      <p className="text-base font-semibold text-zinc-100">{what} {verb} for administrators</p>
      <p className="max-w-sm text-xs leading-relaxed text-zinc-400">Your account does not have the rights to see this page. Ask a Berth administrator if you need them.</p>
      <Link href="/" className="mt-2 text-xs text-sky-300 hover:underline">
        Back to the fleet
      </Link>
    </div>
  );
}
