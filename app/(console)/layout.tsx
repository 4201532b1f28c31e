"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { LogOut } from "lucide-react";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import { BrandMark } from "../_components/brand";
import { ToastProvider } from "../_components/toasts";
import { Button, Spinner, Tooltip, cx } from "../_components/ui";
import { authClient } from "../_lib/auth-client";
import { useFleetLiveUpdates, type LiveStatus } from "../_lib/live";
import { SessionContext } from "../_lib/session";
import { errorMessage, trpcErrorCode, useTRPC } from "../_lib/trpc";

/**
 * The signed-in shell: top bar, the session for every page below, and the one
 * live subscription that keeps the console's data fresh.
 */
export default function ConsoleLayout({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const router = useRouter();
  const me = useQuery(trpc.auth.me.queryOptions());
  const live = useFleetLiveUpdates(me.isSuccess);

  const unauthorized = trpcErrorCode(me.error) === "UNAUTHORIZED";
  useEffect(() => {
    if (unauthorized) router.replace("/login");
  }, [unauthorized, router]);

  if (!me.data) {
    return (
      <div className="flex min-h-screen items-center justify-center text-zinc-500">
        {me.isError && !unauthorized ? (
          <div role="alert" className="text-center">
            <p className="text-sm text-zinc-300">Berth could not load your session.</p>
            <p className="mt-1 font-mono text-xs text-zinc-500">{errorMessage(me.error)}</p>
            <Button size="sm" className="mt-4" onClick={() => void me.refetch()}>
              Retry
            </Button>
          </div>
        ) : (
          <Spinner />
        )}
      </div>
    );
  }

  return (
    <SessionContext.Provider value={me.data}>
      <ToastProvider>
        <div className="flex min-h-screen flex-col">
          <TopBar email={me.data.email} role={me.data.role} live={live} />
          <main className="mx-auto w-full max-w-[1440px] flex-1 px-6 py-6">{children}</main>
        </div>
      </ToastProvider>
    </SessionContext.Provider>
  );
}

function TopBar({ email, role, live }: { email: string; role: string; live: LiveStatus }) {
  const pathname = usePathname();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [signingOut, setSigningOut] = useState(false);
  const fleetActive = pathname === "/" || pathname.startsWith("/hosts");

  async function signOut() {
    setSigningOut(true);
    try {
      await authClient.signOut();
    } finally {
      queryClient.clear();
      router.replace("/login");
    }
  }

  return (
    <header className="sticky top-0 z-20 border-b border-zinc-800/80 bg-zinc-950/85 backdrop-blur">
      <div className="mx-auto flex h-12 max-w-[1440px] items-center gap-6 px-6">
        <Link href="/" className="flex items-center gap-2 text-[15px] font-semibold tracking-tight text-zinc-100">
          <BrandMark className="size-6 [&_svg]:size-3.5" />
          Berth
        </Link>
        <nav className="flex items-center gap-1" aria-label="Main">
          <Link
            href="/"
            data-testid="nav-fleet"
            aria-current={fleetActive ? "page" : undefined}
            className={cx(
              "rounded-md px-2.5 py-1 text-[13px] font-medium transition-colors",
              fleetActive ? "bg-zinc-800 text-zinc-100" : "text-zinc-400 hover:bg-zinc-900 hover:text-zinc-200",
            )}
          >
            Fleet
          </Link>
        </nav>
        <div className="ml-auto flex items-center gap-4">
          <LiveIndicator status={live} />
          <div className="flex items-center gap-2 text-[13px]">
            <span data-testid="user-email" className="text-zinc-300">
              {email}
            </span>
            {role === "admin" ? (
              <span className="rounded border border-zinc-700 px-1.5 py-px text-[10px] font-medium tracking-wide text-zinc-400 uppercase">admin</span>
            ) : null}
          </div>
          <Button size="sm" variant="ghost" onClick={() => void signOut()} loading={signingOut} icon={<LogOut className="size-3.5" />} data-testid="sign-out">
            Sign out
          </Button>
        </div>
      </div>
    </header>
  );
}

const LIVE_LABEL: Record<LiveStatus, { text: string; dot: string; hint: string }> = {
  live: { text: "Live", dot: "bg-emerald-400", hint: "Receiving fleet changes as they happen." },
  connecting: { text: "Connecting", dot: "bg-amber-400 animate-pulse", hint: "Connecting to the live update stream…" },
  idle: { text: "Connecting", dot: "bg-zinc-500", hint: "Live updates start once you are signed in." },
  error: { text: "Offline", dot: "bg-red-400", hint: "Live updates stopped. Reload the page to reconnect." },
};

function LiveIndicator({ status }: { status: LiveStatus }) {
  const label = LIVE_LABEL[status];
  return (
    <Tooltip content={label.hint} side="bottom">
      <span data-testid="live-status" data-status={status} className="flex items-center gap-1.5 text-xs text-zinc-400">
        <span className={cx("size-1.5 rounded-full", label.dot)} />
        {label.text}
      </span>
    </Tooltip>
  );
}
