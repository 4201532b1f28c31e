"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { MoreHorizontal, Monitor, ShieldCheck, ShieldOff, Trash2, UserPlus } from "lucide-react";
import { useMemo, useState } from "react";
import { ConfirmDialog } from "../../../_components/confirm-dialog";
import { Dialog } from "../../../_components/dialog";
import { Menu, MenuItem, MenuSeparator } from "../../../_components/menu";
import { RelativeTime } from "../../../_components/status";
import { EmptyRow, FilterInput, PlainHeader, SortHeader, TableFrame, useSortedRows } from "../../../_components/table";
import { useToasts } from "../../../_components/toasts";
import { Button, PageHeader, Spinner } from "../../../_components/ui";
import { plural } from "../../../_lib/format";
import { useSessionUser } from "../../../_lib/session";
import { errorMessage, useTRPC, type UserRow } from "../../../_lib/trpc";
import { useDocumentTitle } from "../../../_lib/use-document-title";
import { SessionsTable } from "../../_components/sessions-table";
import { InviteUserDialog } from "./invite-user-dialog";

const USER_SORT = {
  name: (u: UserRow) => u.name,
  email: (u: UserRow) => u.email,
  role: (u: UserRow) => (u.role === "admin" ? 0 : 1),
  teams: (u: UserRow) => u.memberships.map((m) => m.team.name).join(", ") || null,
  created: (u: UserRow) => -u.createdAt.getTime(),
};

type Pending = { kind: "remove" | "sessions"; user: UserRow } | null;

export default function UsersPage() {
  const trpc = useTRPC();
  const users = useQuery(trpc.users.list.queryOptions());
  const [inviting, setInviting] = useState(false);
  const [text, setText] = useState("");
  const [pending, setPending] = useState<Pending>(null);
  useDocumentTitle("Users");

  const filtered = useMemo(() => {
    const needle = text.trim().toLowerCase();
    return (users.data ?? []).filter(
      (u) =>
        needle === "" ||
        u.name.toLowerCase().includes(needle) ||
        u.email.toLowerCase().includes(needle) ||
        u.memberships.some((m) => m.team.name.toLowerCase().includes(needle)),
    );
  }, [users.data, text]);
  const { sorted, sort, toggle } = useSortedRows(filtered, USER_SORT, { key: "created", dir: "desc" });
  const head = { sort, onSort: toggle };
  const all = users.data;

  return (
    <div className="flex flex-col gap-5">
      <PageHeader
        title="Users"
        description="Everyone who can sign in to Berth. There is no public sign-up: an administrator invites each person."
        actions={
          <Button variant="primary" size="sm" icon={<UserPlus className="size-3.5" />} onClick={() => setInviting(true)} data-testid="invite-user-button">
            Invite user
          </Button>
        }
      />

      <TableFrame
        toolbar={<FilterInput value={text} onChange={setText} label="Filter users" placeholder="Filter by name, email or team" />}
        footer={all ? `${plural(sorted.length, "user")}${sorted.length !== all.length ? ` of ${all.length}` : ""}` : undefined}
      >
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <SortHeader label="Name" column="name" {...head} className="pl-4" />
            <SortHeader label="Email" column="email" {...head} />
            <SortHeader label="Role" column="role" {...head} />
            <SortHeader label="Teams" column="teams" {...head} />
            <SortHeader label="Created" column="created" {...head} />
            <PlainHeader label="" className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {users.isPending ? (
            <EmptyRow colSpan={6}>
              <Spinner className="mx-auto size-4" />
            </EmptyRow>
          ) : users.isError ? (
            <EmptyRow colSpan={6}>Could not load users: {errorMessage(users.error)}</EmptyRow>
          ) : sorted.length === 0 ? (
            <EmptyRow colSpan={6}>No user matches the filter.</EmptyRow>
          ) : (
            sorted.map((u) => <UserRowView key={u.id} user={u} onPick={(kind) => setPending({ kind, user: u })} />)
          )}
        </tbody>
      </TableFrame>

      <InviteUserDialog open={inviting} onClose={() => setInviting(false)} />
      <RemoveUserDialog target={pending?.kind === "remove" ? pending.user : null} onClose={() => setPending(null)} />
      <UserSessionsDialog target={pending?.kind === "sessions" ? pending.user : null} onClose={() => setPending(null)} />
    </div>
  );
}

function UserRowView({ user: u, onPick }: { user: UserRow; onPick: (kind: "remove" | "sessions") => void }) {
  const trpc = useTRPC();
  const me = useSessionUser();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const self = u.id === me.id;
  const admin = u.role === "admin";
  const setAdmin = useMutation(
    trpc.users.setGlobalAdmin.mutationOptions({
      onSuccess: (_data, input) => toasts.success(input.globalAdmin ? `${u.name} is now an administrator` : `${u.name} is no longer an administrator`),
      onError: (error) => toasts.error(`Could not change ${u.name}'s rights`, errorMessage(error)),
      onSettled: () => queryClient.invalidateQueries(trpc.users.list.queryFilter()),
    }),
  );

  return (
    <tr data-testid={`user-row-${u.email}`} className="transition-colors hover:bg-zinc-800/30">
      <td className="py-2 pr-3 pl-4">
        <div className="flex items-center gap-2">
          <span className="font-medium text-zinc-100">{u.name}</span>
          {self ? <span className="text-[11px] text-zinc-500">(you)</span> : null}
          {u.banned ? <span className="rounded border border-red-500/30 px-1.5 py-px text-[10px] text-red-300 uppercase">banned</span> : null}
        </div>
      </td>
      <td className="px-3 py-2 text-zinc-300">{u.email}</td>
      <td className="px-3 py-2">
        {admin ? (
          <span
            data-testid="admin-badge"
            className="inline-flex items-center gap-1 rounded border border-sky-500/30 bg-sky-500/10 px-1.5 py-px text-[10px] font-medium tracking-wide text-sky-300 uppercase"
          >
            <ShieldCheck className="size-3" aria-hidden />
            admin
          </span>
        ) : (
          <span className="text-xs text-zinc-500">member</span>
        )}
      </td>
      <td className="px-3 py-2">
        {u.memberships.length === 0 ? (
          <span className="text-zinc-600">—</span>
        ) : (
          <div className="flex flex-wrap gap-1">
            {u.memberships.map((m) => (
              <span key={m.team.id} className="inline-flex items-center rounded border border-zinc-700/80 bg-zinc-800/50 text-[11px]">
                <span className="px-1.5 py-px text-zinc-200">{m.team.name}</span>
                <span className="border-l border-zinc-700/80 px-1.5 py-px text-zinc-400">{m.role.name}</span>
              </span>
            ))}
          </div>
        )}
      </td>
      <td className="px-3 py-2 whitespace-nowrap text-zinc-400">
        <RelativeTime date={u.createdAt} />
      </td>
      <td className="py-2 pr-4 pl-3">
        <div className="flex justify-end">
          <Menu
            label={`Actions for ${u.email}`}
            testId={`user-actions-${u.email}`}
            triggerClassName="size-6 justify-center rounded text-zinc-400 hover:bg-zinc-800 hover:text-zinc-100"
            trigger={setAdmin.isPending ? <Spinner className="size-3.5" /> : <MoreHorizontal className="size-4" />}
          >
            {(close) => (
              <>
                <MenuItem
                  icon={<Monitor />}
                  testId="user-sessions"
                  onSelect={() => {
                    close();
                    onPick("sessions");
                  }}
                >
                  Sessions…
                </MenuItem>
                <MenuItem
                  icon={admin ? <ShieldOff /> : <ShieldCheck />}
                  testId="user-toggle-admin"
                  disabled={self && admin}
                  onSelect={() => {
                    close();
                    setAdmin.mutate({ userId: u.id, globalAdmin: !admin });
                  }}
                >
                  {admin ? "Remove administrator rights" : "Make administrator"}
                </MenuItem>
                <MenuSeparator />
                <MenuItem
                  icon={<Trash2 />}
                  danger
                  disabled={self}
                  testId="user-remove"
                  onSelect={() => {
                    close();
                    onPick("remove");
                  }}
                >
                  Remove user…
                </MenuItem>
              </>
            )}
          </Menu>
        </div>
      </td>
    </tr>
  );
}

function RemoveUserDialog({ target, onClose }: { target: UserRow | null; onClose: () => void }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const remove = useMutation(
    trpc.users.remove.mutationOptions({
      onSuccess: () => {
        toasts.success(`Removed ${target?.email ?? "the user"}`);
        void queryClient.invalidateQueries(trpc.users.list.queryFilter());
        void queryClient.invalidateQueries(trpc.teams.pathFilter());
        close();
      },
    }),
  );
  const close = () => {
    remove.reset();
    onClose();
  };
  return (
    <ConfirmDialog
      open={target !== null}
      onClose={close}
      title={`Remove ${target?.name ?? ""}?`}
      confirmLabel="Remove user"
      onConfirm={() => target && remove.mutate({ userId: target.id })}
      pending={remove.isPending}
      error={remove.error}
      testId="remove-user-dialog"
    >
      <span className="font-medium text-zinc-200">{target?.email}</span> can no longer sign in: their sessions end now, their API tokens stop
      working and they leave every team. The audit trail keeps what they did.
    </ConfirmDialog>
  );
}

function UserSessionsDialog({ target, onClose }: { target: UserRow | null; onClose: () => void }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const sessions = useQuery(trpc.users.sessionsOf.queryOptions({ userId: target?.id ?? "" }, { enabled: target !== null }));
  const revoke = useMutation(
    trpc.users.revokeSessionOf.mutationOptions({
      onSuccess: () => toasts.success("Session revoked", "That browser is signed out now."),
      onError: (error) => toasts.error("Could not revoke the session", errorMessage(error)),
      onSettled: () => queryClient.invalidateQueries(trpc.users.sessionsOf.queryFilter()),
    }),
  );
  return (
    <Dialog
      open={target !== null}
      onClose={onClose}
      title={`Sessions of ${target?.name ?? ""}`}
      description="Browsers signed in as this user. Revoking one signs it out at once, including its live views."
      testId="user-sessions-dialog"
      className="w-[56rem]"
    >
      <SessionsTable
        sessions={sessions.data}
        isPending={sessions.isPending}
        error={sessions.error}
        revokingId={revoke.isPending ? (revoke.variables?.sessionId ?? null) : null}
        onRevoke={(sessionId) => target && revoke.mutate({ userId: target.id, sessionId })}
      />
    </Dialog>
  );
}
