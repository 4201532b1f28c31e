"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ArrowRight, KeyRound, ShieldCheck } from "lucide-react";
import Link from "next/link";
import { useState, type FormEvent, type ReactNode } from "react";
import { useToasts } from "../../_components/toasts";
import { Button, Checkbox, Code, Field, FormError, PageHeader, Section } from "../../_components/ui";
import { authClient } from "../../_lib/auth-client";
import { isGlobalAdmin } from "../../_lib/access";
import { useSessionUser } from "../../_lib/session";
import { errorMessage, useTRPC } from "../../_lib/trpc";
import { useDocumentTitle } from "../../_lib/use-document-title";
import { SessionsTable } from "../_components/sessions-table";
import { ApiTokens } from "./api-tokens";

const MIN_PASSWORD = 12;

export default function AccountPage() {
  const user = useSessionUser();
  useDocumentTitle("Account");

  return (
    <div className="flex flex-col gap-5">
      <PageHeader title="Account" description="Your profile, password, signed-in browsers and API tokens." />
      <div className="grid items-start gap-5 lg:grid-cols-2">
        <Profile />
        <ChangePassword />
      </div>
      <TeamsAndRoles />
      <Sessions />
      <ApiTokens />
      <p className="text-xs text-zinc-600">User id <span className="font-mono">{user.id}</span></p>
    </div>
  );
}

function Profile() {
  const user = useSessionUser();
  const admin = isGlobalAdmin(user);
  const rows: Array<{ label: string; value: ReactNode }> = [
    { label: "Name", value: user.name },
    { label: "Email", value: <span data-testid="account-email">{user.email}</span> },
    {
      label: "Access",
      value: admin ? (
        <span className="inline-flex items-center gap-1.5 text-sky-300">
          <ShieldCheck className="size-3.5" aria-hidden />
          Administrator — every permission on every host
        </span>
      ) : user.access.teams.length === 0 ? (
        <span className="text-zinc-400">Member of no team yet</span>
      ) : (
        `Member of ${user.access.teams.length} team${user.access.teams.length === 1 ? "" : "s"}`
      ),
    },
  ];
  return (
    <Section title="Profile" description="Your name and email are set by an administrator.">
      <dl className="grid grid-cols-[7rem_1fr] gap-x-4 gap-y-2.5 text-[13px]">
        {rows.map((r) => (
          <div key={r.label} className="contents">
            <dt className="text-xs font-medium text-zinc-500">{r.label}</dt>
            <dd className="min-w-0 truncate text-zinc-200">{r.value}</dd>
          </div>
        ))}
      </dl>
    </Section>
  );
}

function ChangePassword() {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [form, setForm] = useState({ current: "", next: "", confirm: "", revokeOthers: true });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    if (form.next.length < MIN_PASSWORD) return setError(`The new password needs at least ${MIN_PASSWORD} characters.`);
    if (form.next !== form.confirm) return setError("The two new passwords differ.");
    setBusy(true);
    try {
      const result = await authClient.changePassword({ currentPassword: form.current, newPassword: form.next, revokeOtherSessions: form.revokeOthers });
      if (result.error) throw new Error(result.error.message ?? "The password was not changed");
      toasts.success("Password changed", form.revokeOthers ? "Your other sessions were signed out." : undefined);
      setForm({ current: "", next: "", confirm: "", revokeOthers: true });
      void queryClient.invalidateQueries(trpc.account.sessions.queryFilter());
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setBusy(false);
    }
  }

  const set = (key: "current" | "next" | "confirm") => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));

  return (
    <Section title="Password" description="Changing it is recorded in the audit trail.">
      <form onSubmit={onSubmit} className="flex flex-col gap-3" data-testid="change-password-form">
        <Field label="Current password" name="currentPassword" type="password" autoComplete="current-password" required value={form.current} onChange={set("current")} />
        <div className="grid grid-cols-2 gap-3">
          <Field label="New password" name="newPassword" type="password" autoComplete="new-password" required minLength={MIN_PASSWORD} value={form.next} onChange={set("next")} />
          <Field label="Repeat new password" name="confirmPassword" type="password" autoComplete="new-password" required value={form.confirm} onChange={set("confirm")} />
        </div>
        <Checkbox label="Sign out my other sessions" checked={form.revokeOthers} onChange={(e) => setForm((f) => ({ ...f, revokeOthers: e.target.checked }))} />
        {error ? <FormError>{error}</FormError> : null}
        <div className="flex justify-end">
          <Button size="sm" type="submit" variant="primary" loading={busy} icon={<KeyRound className="size-3.5" />} data-testid="change-password-submit">
            Change password
          </Button>
        </div>
      </form>
    </Section>
  );
}

function TeamsAndRoles() {
  const user = useSessionUser();
  const admin = isGlobalAdmin(user);
  const teams = [...user.access.teams].sort((a, b) => a.teamName.localeCompare(b.teamName));
  return (
    <Section title="Teams and roles" description="What you may do on a host comes from your role in the teams it belongs to." flush testId="account-teams">
      {admin ? (
        <p className="px-4 py-4 text-xs text-zinc-400">
          As an administrator you hold every permission on every host, whatever your teams.{" "}
          <Link href="/settings/teams" className="text-sky-300 hover:underline">
            Manage teams
          </Link>
        </p>
      ) : teams.length === 0 ? (
        <p className="px-4 py-4 text-xs text-zinc-400">You are not in any team yet, so you see no hosts. Ask an administrator to add you to one.</p>
      ) : (
        <table className="w-full text-left text-[13px]">
          <thead className="border-b border-zinc-800 bg-zinc-900/60 text-[11px] tracking-wide text-zinc-500 uppercase">
            <tr>
              <th className="px-4 py-2 font-medium">Team</th>
              <th className="px-3 py-2 font-medium">Role</th>
              <th className="px-3 py-2 font-medium">Permissions</th>
              <th className="px-4 py-2" />
            </tr>
          </thead>
          <tbody className="divide-y divide-zinc-800/70">
            {teams.map((t) => (
              <tr key={t.teamId} data-testid={`account-team-${t.teamName}`}>
                <td className="px-4 py-2 font-medium text-zinc-100">{t.teamName}</td>
                <td className="px-3 py-2 text-zinc-300">{t.roleName}</td>
                <td className="px-3 py-2">
                  <div className="flex flex-wrap gap-1">
                    {t.permissions.map((p) => (
                      <Code key={p}>{p}</Code>
                    ))}
                  </div>
                </td>
                <td className="px-4 py-2 text-right">
                  {t.permissions.includes("team.manage") ? (
                    <Link href={`/settings/teams/${t.teamId}`} className="inline-flex items-center gap-1 text-xs text-sky-300 hover:underline" data-testid={`manage-team-${t.teamName}`}>
                      Manage team
                      <ArrowRight className="size-3" aria-hidden />
                    </Link>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

function Sessions() {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const sessions = useQuery(trpc.account.sessions.queryOptions());
  const [revokingAll, setRevokingAll] = useState(false);
  const revoke = useMutation(trpc.account.revokeSession.mutationOptions());
  const others = sessions.data?.filter((s) => !s.current) ?? [];
  const refresh = () => queryClient.invalidateQueries(trpc.account.sessions.queryFilter());

  async function revokeOne(sessionId: string) {
    try {
      await revoke.mutateAsync({ sessionId });
      toasts.success("Session revoked", "That browser is signed out now.");
    } catch (error) {
      toasts.error("Could not revoke the session", errorMessage(error));
    } finally {
      void refresh();
    }
  }

  async function revokeOthers() {
    setRevokingAll(true);
    try {
      for (const s of others) await revoke.mutateAsync({ sessionId: s.id });
      toasts.success("Signed out everywhere else");
    } catch (error) {
      toasts.error("Could not revoke every session", errorMessage(error));
    } finally {
      setRevokingAll(false);
      void refresh();
    }
  }

  return (
    <div className="flex flex-col gap-2" data-testid="account-sessions">
      <div className="flex items-end justify-between gap-3">
        <div>
          <h2 className="text-sm font-semibold text-zinc-100">Sessions</h2>
          <p className="text-xs text-zinc-500">Browsers signed in to your account. Revoking one signs it out at once, including its live views.</p>
        </div>
        <Button size="sm" variant="secondary" disabled={others.length === 0} loading={revokingAll} onClick={() => void revokeOthers()} data-testid="revoke-other-sessions">
          Sign out other sessions
        </Button>
      </div>
      <SessionsTable
        sessions={sessions.data}
        isPending={sessions.isPending}
        error={sessions.error}
        revokingId={revoke.isPending && !revokingAll ? (revoke.variables?.sessionId ?? null) : null}
        onRevoke={(id) => void revokeOne(id)}
      />
    </div>
  );
}
