"use client";

import Link from "next/link";
import { usePathname } from "next/navigation";
import type { ReactNode } from "react";
import { cx } from "../../_components/ui";
import { isGlobalAdmin } from "../../_lib/access";
import { useSessionUser } from "../../_lib/session";
import { AdminsOnly } from "../_components/admins-only";

const TABS = [
  { href: "/settings/users", label: "Users", testId: "settings-users" },
  { href: "/settings/teams", label: "Teams", testId: "settings-teams" },
  { href: "/settings/roles", label: "Roles", testId: "settings-roles" },
  { href: "/settings/terminals", label: "Terminals", testId: "settings-terminals" },
  { href: "/settings/registries", label: "Registries", testId: "settings-registries" },
];

/**
 * Settings are for global admins. The exceptions are a team's own page,
 * which its team admins (team.manage) reach from their account page, and
 * the registries pages (the registries of the user's teams: browse with
 * image.pull, change with registry.manage); those pages check their own access.
 */
export default function SettingsLayout({ children }: { children: ReactNode }) {
  const pathname = usePathname();
  const user = useSessionUser();
  const admin = isGlobalAdmin(user);
  const teamPage = /^\/settings\/teams\/[^/]+$/.test(pathname);
  const registriesPage = pathname === "/settings/registries" || pathname.startsWith("/settings/registries/");

  if (!admin && !teamPage && !registriesPage) return <AdminsOnly />;

  return (
    <div className="flex flex-col gap-5">
      {admin ? (
        <nav aria-label="Settings" className="-mb-1 flex gap-1 border-b border-zinc-800">
          {TABS.map((tab) => {
            const active = pathname === tab.href || pathname.startsWith(`${tab.href}/`);
            return (
              <Link
                key={tab.href}
                href={tab.href}
                data-testid={tab.testId}
                aria-current={active ? "page" : undefined}
                className={cx(
                  "-mb-px border-b-2 px-3 py-2 text-[13px] font-medium transition-colors",
                  active ? "border-sky-500 text-zinc-100" : "border-transparent text-zinc-500 hover:text-zinc-300",
                )}
              >
                {tab.label}
              </Link>
            );
          })}
        </nav>
      ) : null}
      {children}
    </div>
  );
}
