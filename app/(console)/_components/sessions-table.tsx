"use client";

import { LogOut, Monitor } from "lucide-react";
import { RelativeTime } from "../../_components/status";
import { EmptyRow, PlainHeader, TableFrame } from "../../_components/table";
import { Button, Spinner } from "../../_components/ui";
import { describeUserAgent, plural } from "../../_lib/format";
import { errorMessage, type SessionRow } from "../../_lib/trpc";

/**
 * Signed-in browsers of one user, most recently active first. The session the
 * viewer is using right now is marked and cannot be revoked from here (that
 * is what Sign out is for).
 */
export function SessionsTable({
  sessions,
  isPending,
  error,
  revokingId,
  onRevoke,
  testId,
}: {
  sessions: SessionRow[] | undefined;
  isPending: boolean;
  error: unknown;
  revokingId: string | null;
  onRevoke: (sessionId: string) => void;
  testId?: string;
}) {
  return (
    <TableFrame footer={sessions ? plural(sessions.length, "active session") : undefined}>
      <thead className="border-b border-zinc-800 bg-zinc-900/60">
        <tr>
          <PlainHeader label="Client" className="pl-4" />
          <PlainHeader label="IP address" />
          <PlainHeader label="Signed in" />
          <PlainHeader label="Last active" />
          <PlainHeader label="Expires" />
          <PlainHeader label="" className="pr-4" />
        </tr>
      </thead>
      <tbody className="divide-y divide-zinc-800/70" data-testid={testId}>
        {isPending ? (
          <EmptyRow colSpan={6}>
            <Spinner className="mx-auto size-4" />
          </EmptyRow>
        ) : error ? (
          <EmptyRow colSpan={6}>Could not load sessions: {errorMessage(error)}</EmptyRow>
        ) : !sessions || sessions.length === 0 ? (
          <EmptyRow colSpan={6}>No active sessions.</EmptyRow>
        ) : (
          sessions.map((s) => (
            <tr key={s.id} data-testid="session-row" data-current={s.current || undefined} className="transition-colors hover:bg-zinc-800/30">
              <td className="py-2 pr-3 pl-4">
                <div className="flex items-center gap-2.5">
                  <Monitor className="size-4 shrink-0 text-zinc-500" aria-hidden />
                  <span className="text-zinc-100" title={s.userAgent ?? undefined}>
                    {describeUserAgent(s.userAgent)}
                  </span>
                  {s.current ? (
                    <span className="rounded border border-sky-500/30 bg-sky-500/10 px-1.5 py-px text-[10px] font-medium tracking-wide text-sky-300 uppercase">
                      this session
                    </span>
                  ) : null}
                </div>
              </td>
              <td className="px-3 py-2 font-mono text-xs text-zinc-300">{s.ipAddress || <span className="text-zinc-600">—</span>}</td>
              <td className="px-3 py-2 text-zinc-400">
                <RelativeTime date={s.createdAt} />
              </td>
              <td className="px-3 py-2 text-zinc-400">
                <RelativeTime date={s.updatedAt} />
              </td>
              <td className="px-3 py-2 text-zinc-400">
                <RelativeTime date={s.expiresAt} />
              </td>
              <td className="py-2 pr-4 pl-3 text-right">
                {s.current ? null : (
                  <Button
                    size="xs"
                    variant="ghost"
                    className="border-zinc-800 hover:text-red-300"
                    icon={<LogOut className="size-3" />}
                    loading={revokingId === s.id}
                    disabled={revokingId !== null && revokingId !== s.id}
                    onClick={() => onRevoke(s.id)}
                    data-testid="revoke-session"
                  >
                    Revoke
                  </Button>
                )}
              </td>
            </tr>
          ))
        )}
      </tbody>
    </TableFrame>
  );
}
