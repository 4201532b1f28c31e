"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { ChevronDown, CircleUser, LogOut, Menu as MenuIcon, UserRound, X } from "lucide-react";
import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import { BrandMark } from "../_components/brand";
import { ToastProvider } from "../_components/toasts";
import { Menu, MenuItem, MenuSeparator } from "../_components/menu";
import { ThemeToggle } from "../_components/theme-toggle";
import { Button, Spinner, Tooltip, cx } from "../_components/ui";
import { canAnywhere, isGlobalAdmin } from "../_lib/access";
import { authClient } from "../_lib/auth-client";
import { closeBrowserSocket, useSessionEndedRedirect } from "../_lib/browser-socket";
import { useFleetLiveUpdates, type LiveStatus } from "../_lib/live";
import { SessionContext, type SessionUser } from "../_lib/session";
import { errorMessage, trpcErrorCode, useTRPC } from "../_lib/trpc";

/**
 * The signed-in shell: top bar, the session for every page below, and the one
 * live subscription that keeps the console's data fresh.
 */
export default function ConsoleLayout({ children }: { children: ReactNode }) {
  const trpc = useTRPC();
  const router = useRouter();
  // Rights can change elsewhere (an admin edits a role or membership): re-read them when the tab is back in focus.
  const me = useQuery(trpc.auth.me.queryOptions(undefined, { refetchOnWindowFocus: true }));
  const live = useFleetLiveUpdates(Boolean(me.data));
  useSessionEndedRedirect();

  // `auth.me` answers null to a signed-out caller (no 401 in the console); a 401 can still come from a session that just ended.
  const signedOut = me.data === null || trpcErrorCode(me.error) === "UNAUTHORIZED";
  useEffect(() => {
    if (signedOut) router.replace("/login");
  }, [signedOut, router]);

  if (!me.data) {
    return (
      <div className="flex min-h-screen items-center justify-center text-zinc-500">
        {me.isError && !signedOut ? (
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
          <TopBar user={me.data} live={live} />
          <main className="mx-auto w-full max-w-[1440px] min-w-0 flex-1 px-4 py-5 sm:px-6 sm:py-6">{children}</main>
        </div>
      </ToastProvider>
    </SessionContext.Provider>
  );
}

type NavItem = { href: string; label: string; testId: string; active: (pathname: string) => boolean };

const FLEET: NavItem = { href: "/", label: "Fleet", testId: "nav-fleet", active: (p) => p === "/" || p.startsWith("/hosts") };
const CONTAINERS: NavItem = { href: "/containers", label: "Containers", testId: "nav-containers", active: (p) => p.startsWith("/containers") };
const IMAGES: NavItem = { href: "/images", label: "Images", testId: "nav-images", active: (p) => p.startsWith("/images") };
const AUDIT: NavItem = { href: "/audit", label: "Audit", testId: "nav-audit", active: (p) => p.startsWith("/audit") };
const SETTINGS: NavItem = { href: "/settings/users", label: "Settings", testId: "nav-settings", active: (p) => p.startsWith("/settings") };
/** Non-admins reach their teams' registries directly (admins through Settings). */
const REGISTRIES: NavItem = { href: "/settings/registries", label: "Registries", testId: "nav-registries", active: (p) => p.startsWith("/settings/registries") };

function TopBar({ user, live }: { user: SessionUser; live: LiveStatus }) {
  const pathname = usePathname();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [signingOut, setSigningOut] = useState(false);
  const admin = isGlobalAdmin(user);
  const nav = [FLEET, CONTAINERS, IMAGES, ...(canAnywhere(user, "audit.view") ? [AUDIT] : []), ...(admin ? [SETTINGS] : canAnywhere(user, "image.pull") || canAnywhere(user, "registry.manage") ? [REGISTRIES] : [])];

  async function signOut() {
    setSigningOut(true);
    try {
      await authClient.signOut();
    } finally {
      closeBrowserSocket();
      queryClient.clear();
      router.replace("/login");
    }
  }

  return (
    <header className="sticky top-0 z-20 border-b border-zinc-800/80 bg-zinc-950/85 backdrop-blur">
      <div className="mx-auto flex h-12 max-w-[1440px] items-center gap-3 px-4 sm:px-6 md:gap-6">
        <Link href="/" className="flex items-center gap-2 text-[15px] font-semibold tracking-tight text-zinc-100">
          <BrandMark className="size-6 [&_svg]:size-3.5" />
          Berth
        </Link>
        {/* Wide screens: the links in the bar. Narrow ones get them in the menu below. */}
        <nav className="hidden items-center gap-1 md:flex" aria-label="Main">
          {nav.map((item) => {
            const active = item.active(pathname);
            return (
              <Link
                key={item.href}
                href={item.href}
                data-testid={item.testId}
                aria-current={active ? "page" : undefined}
                className={cx(
                  "rounded-md px-2.5 py-1 text-[13px] font-medium transition-colors",
                  active ? "bg-zinc-800 text-zinc-100" : "text-zinc-400 hover:bg-zinc-900 hover:text-zinc-200",
                )}
              >
                {item.label}
              </Link>
            );
          })}
        </nav>
        <div className="ml-auto flex items-center gap-3 md:gap-4">
          <LiveIndicator status={live} />
          <div className="hidden md:block">
            <ThemeToggle />
          </div>
          <div className="hidden md:block">
            <Menu
              label="Account menu"
              testId="account-menu"
              triggerClassName={cx(
                "h-7 gap-2 rounded-md border px-2 text-[13px]",
                pathname.startsWith("/account") ? "border-zinc-700 bg-zinc-800" : "border-transparent hover:border-zinc-800 hover:bg-zinc-900",
              )}
              trigger={
                <>
                  <CircleUser className="size-4 text-zinc-500" aria-hidden />
                  <span data-testid="user-email" className="text-zinc-300">
                    {user.email}
                  </span>
                  {admin ? (
                    <span className="rounded border border-zinc-700 px-1.5 py-px text-[10px] font-medium tracking-wide text-zinc-400 uppercase">admin</span>
                  ) : null}
                  <ChevronDown className="size-3.5 text-zinc-500" aria-hidden />
                </>
              }
            >
              {(close) => (
                <>
                  <div className="border-b border-zinc-800 px-3 pt-1.5 pb-2">
                    <p className="truncate text-[13px] font-medium text-zinc-100">{user.name}</p>
                    <p className="truncate text-xs text-zinc-500">{user.email}</p>
                  </div>
                  <div className="pt-1">
                    <MenuItem
                      icon={<UserRound />}
                      testId="menu-account"
                      onSelect={() => {
                        close();
                        router.push("/account");
                      }}
                    >
                      Account
                    </MenuItem>
                    <MenuSeparator />
                    <MenuItem icon={signingOut ? <Spinner /> : <LogOut />} testId="sign-out" onSelect={() => void signOut()}>
                      Sign out
                    </MenuItem>
                  </div>
                </>
              )}
            </Menu>
          </div>
          <MobileMenu user={user} nav={nav} admin={admin} signingOut={signingOut} onSignOut={() => void signOut()} />
        </div>
      </div>
    </header>
  );
}

/**
 * Narrow screens (phones): one button opening the whole navigation, the
 * account, the theme and sign-out as a panel under the bar.
 */
function MobileMenu({
  user,
  nav,
  admin,
  signingOut,
  onSignOut,
}: {
  user: SessionUser;
  nav: NavItem[];
  admin: boolean;
  signingOut: boolean;
  onSignOut: () => void;
}) {
  const pathname = usePathname();
  const [open, setOpen] = useState(false);
  const [openedAt, setOpenedAt] = useState(pathname);
  // Following a link closes the panel (adjusting state while rendering, not in an effect).
  if (open && openedAt !== pathname) setOpen(false);

  useEffect(() => {
    if (!open) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") setOpen(false);
    };
    document.addEventListener("keydown", onKey);
    return () => document.removeEventListener("keydown", onKey);
  }, [open]);

  const links = [...nav, { href: "/account", label: "Account", testId: "nav-account", active: (p: string) => p.startsWith("/account") }];
  return (
    <div className="md:hidden">
      <button
        type="button"
        aria-label={open ? "Close menu" : "Open menu"}
        aria-expanded={open}
        aria-controls="mobile-menu"
        data-testid="mobile-menu-button"
        onClick={() => {
          setOpenedAt(pathname);
          setOpen((o) => !o);
        }}
        className="-mr-1 inline-flex size-9 items-center justify-center rounded-md text-zinc-300 transition-colors hover:bg-zinc-900 hover:text-zinc-100"
      >
        {open ? <X className="size-5" aria-hidden /> : <MenuIcon className="size-5" aria-hidden />}
      </button>
      {open ? (
        <div id="mobile-menu" data-testid="mobile-menu" className="absolute inset-x-0 top-full border-b border-zinc-800 bg-zinc-950 px-4 pt-2 pb-4 shadow-xl shadow-black/40">
          <nav aria-label="Main" className="flex flex-col">
            {links.map((item) => {
              const active = item.active(pathname);
              return (
                <Link
                  key={item.href}
                  href={item.href}
                  data-testid={`mobile-${item.testId}`}
                  aria-current={active ? "page" : undefined}
                  onClick={() => setOpen(false)}
                  className={cx(
                    "rounded-md px-3 py-2.5 text-sm font-medium transition-colors",
                    active ? "bg-zinc-800 text-zinc-100" : "text-zinc-300 hover:bg-zinc-900 hover:text-zinc-100",
                  )}
                >
                  {item.label}
                </Link>
              );
            })}
          </nav>
          <div className="mt-3 flex flex-wrap items-center justify-between gap-3 border-t border-zinc-800 px-3 pt-3">
            <div className="min-w-0">
              <p className="truncate text-[13px] font-medium text-zinc-100">
                {user.name}
                {admin ? <span className="ml-2 rounded border border-zinc-700 px-1.5 py-px text-[10px] font-medium tracking-wide text-zinc-400 uppercase">admin</span> : null}
              </p>
              <p className="truncate text-xs text-zinc-500">{user.email}</p>
            </div>
            <ThemeToggle testIdPrefix="mobile-theme" showLabels />
          </div>
          <div className="mt-3 px-3">
            <Button size="sm" variant="secondary" className="w-full" loading={signingOut} icon={<LogOut className="size-3.5" />} onClick={onSignOut} data-testid="mobile-sign-out">
              Sign out
            </Button>
          </div>
        </div>
      ) : null}
    </div>
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
        <span className="max-sm:sr-only">{label.text}</span>
      </span>
    </Tooltip>
  );
}
