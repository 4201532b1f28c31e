"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ArrowLeft, Link2, Server, Trash2, Unlink, UserMinus, UserPlus, UsersRound } from "lucide-react";
import Link from "next/link";
import { useParams, useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { ConfirmDialog } from "../../../../_components/confirm-dialog";
import { Dialog } from "../../../../_components/dialog";
import { HostStatusBadge, RelativeTime } from "../../../../_components/status";
import { EmptyRow, PlainHeader, TableFrame } from "../../../../_components/table";
import { useToasts } from "../../../../_components/toasts";
import { Button, FormError, Select, SelectField, Spinner } from "../../../../_components/ui";
import { PERMISSIONS } from "../../../../../server/auth/permissions.ts";
import { canInTeam, isGlobalAdmin } from "../../../../_lib/access";
import { plural } from "../../../../_lib/format";
import { useSessionUser } from "../../../../_lib/session";
import { errorMessage, trpcErrorCode, useTRPC, type Role, type TeamDetail } from "../../../../_lib/trpc";
import { useDocumentTitle } from "../../../../_lib/use-document-title";
import { AdminsOnly } from "../../../_components/admins-only";

type Member = TeamDetail["members"][number];
type TeamHost = TeamDetail["hosts"][number]["host"];

/**
 * One team: its members and their roles, and the hosts it owns. Global admins
 * and the team's own admins (team.manage) manage members; sharing hosts with
 * teams is for global admins.
 */
export default function TeamPage() {
  const { teamId } = useParams<{ teamId: string }>();
  const trpc = useTRPC();
  const user = useSessionUser();
  const admin = isGlobalAdmin(user);
  const team = useQuery(trpc.teams.byId.queryOptions({ teamId }));
  const roles = useQuery(trpc.roles.list.queryOptions());
  const [removing, setRemoving] = useState(false);
  useDocumentTitle(team.data?.name ?? "Team");

  const back = admin ? { href: "/settings/teams", label: "Teams" } : { href: "/account", label: "Account" };

  if (team.isPending) {
    return (
      <div className="flex justify-center py-20 text-zinc-500">
        <Spinner />
      </div>
    );
  }
  if (team.isError) {
    const code = trpcErrorCode(team.error);
    if (code === "FORBIDDEN") return <AdminsOnly what="This team's page" verb="is" />;
    return (
      <div className="flex flex-col items-center gap-3 py-20 text-center" role="alert" data-testid="team-missing">
        <p className="text-base font-semibold text-zinc-100">{code === "NOT_FOUND" ? "This team does not exist" : "Could not load this team"}</p>
        <p className="text-xs text-zinc-400">{code === "NOT_FOUND" ? "It may have been removed by an admin." : errorMessage(team.error)}</p>
        <Link href={back.href} className="mt-2 text-xs text-sky-300 hover:underline">
          Back to {back.label.toLowerCase()}
        </Link>
      </div>
    );
  }

  const t = team.data;
  return (
    <div className="flex flex-col gap-5">
      <Link href={back.href} className="inline-flex w-fit items-center gap-1.5 text-xs text-zinc-500 transition-colors hover:text-zinc-300">
        <ArrowLeft className="size-3.5" aria-hidden />
        {back.label}
      </Link>

      <section className="flex flex-wrap items-center gap-3 rounded-lg border border-zinc-800 bg-zinc-900/40 px-5 py-4" data-testid="team-header">
        <span className="flex size-9 items-center justify-center rounded-md border border-zinc-800 bg-zinc-900">
          <UsersRound className="size-4.5 text-zinc-400" aria-hidden />
        </span>
        <div className="min-w-0">
          <h1 className="truncate text-lg font-semibold tracking-tight text-zinc-100" data-testid="team-name">
            {t.name}
          </h1>
          <p className="text-xs text-zinc-500">
            {plural(t._count.members, "member")} · {plural(t._count.hosts, "host")} · created <RelativeTime date={t.createdAt} />
          </p>
        </div>
        {admin ? (
          <Button size="sm" variant="ghost" icon={<Trash2 className="size-3.5" />} className="ml-auto hover:text-red-300" onClick={() => setRemoving(true)} data-testid="remove-team">
            Remove team
          </Button>
        ) : null}
      </section>

      <Members team={t} roles={roles.data ?? []} canAdd={admin} />
      <Hosts team={t} canShare={admin} />

      {admin ? <RemoveTeamDialog team={t} open={removing} onClose={() => setRemoving(false)} /> : null}
    </div>
  );
}

function useTeamInvalidation(teamId: string) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  return () => {
    void queryClient.invalidateQueries(trpc.teams.byId.queryFilter({ teamId }));
    void queryClient.invalidateQueries(trpc.teams.list.queryFilter());
    void queryClient.invalidateQueries(trpc.users.list.queryFilter());
    // The signed-in user's own rights may have changed with it.
    void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
  };
}

/**
 * The roles the signed-in user may hand out in this team: those holding no
 * permission they lack there (the server enforces the same ceiling).
 */
function useRoleCeiling(teamId: string, roles: Role[]) {
  const me = useSessionUser();
  const held = new Set<string>(PERMISSIONS.filter((p) => canInTeam(me, teamId, p)));
  const within = (role: Pick<Role, "permissions"> | undefined) => Boolean(role && role.permissions.every((p) => held.has(p)));
  return { within, assignable: roles.filter(within) };
}

function Members({ team, roles, canAdd }: { team: TeamDetail; roles: Role[]; canAdd: boolean }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const me = useSessionUser();
  const admin = isGlobalAdmin(me);
  const ceiling = useRoleCeiling(team.id, roles);
  const roleById = new Map(roles.map((r) => [r.id, r]));
  /** Why this member's row is read-only for the caller, or null when they may change it. */
  const lockedReason = (m: Member): string | null => {
    if (m.user.id === me.id && !admin) return "Your own membership is changed by another team manager or an administrator";
    if (roles.length > 0 && !ceiling.within(roleById.get(m.role.id))) return `Their role ${m.role.name} holds permissions you do not hold in this team`;
    return null;
  };
  const invalidate = useTeamInvalidation(team.id);
  const [adding, setAdding] = useState(false);
  const [removing, setRemoving] = useState<Member | null>(null);
  const setRole = useMutation(
    trpc.teams.setMember.mutationOptions({
      onSuccess: () => toasts.success("Role changed"),
      onError: (error) => toasts.error("Could not change the role", errorMessage(error)),
      onSettled: invalidate,
    }),
  );
  const remove = useMutation(
    trpc.teams.removeMember.mutationOptions({
      onSuccess: () => {
        toasts.success(`${removing?.user.email ?? "The member"} left ${team.name}`);
        setRemoving(null);
      },
      onSettled: invalidate,
    }),
  );

  return (
    <div className="flex flex-col gap-2" data-testid="team-members">
      <div className="flex items-end justify-between gap-3">
        <div>
          <h2 className="text-sm font-semibold text-zinc-100">Members</h2>
          <p className="text-xs text-zinc-500">
            Each member&apos;s role applies on every host of this team.
            {admin ? null : " You can give roles up to your own permissions here."}
          </p>
        </div>
        {canAdd ? (
          <Button size="sm" icon={<UserPlus className="size-3.5" />} onClick={() => setAdding(true)} data-testid="add-member-button">
            Add member
          </Button>
        ) : (
          <p className="text-xs text-zinc-500">To add someone, ask a Berth administrator.</p>
        )}
      </div>
      <TableFrame footer={plural(team.members.length, "member")}>
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <PlainHeader label="Name" className="pl-4" />
            <PlainHeader label="Email" />
            <PlainHeader label="Role" />
            <PlainHeader label="Member since" />
            <PlainHeader label="" className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {team.members.length === 0 ? <EmptyRow colSpan={5}>No members yet.</EmptyRow> : null}
          {team.members.map((m) => {
            const changing = setRole.isPending && setRole.variables?.userId === m.user.id;
            const locked = lockedReason(m);
            // The current role always shows, even when it is above the caller's ceiling.
            const choices = ceiling.assignable.some((r) => r.id === m.role.id) ? ceiling.assignable : [{ id: m.role.id, name: m.role.name }, ...ceiling.assignable];
            return (
              <tr key={m.user.id} data-testid={`member-row-${m.user.email}`} className="transition-colors hover:bg-zinc-800/30">
                <td className="py-1.5 pr-3 pl-4">
                  <span className="font-medium text-zinc-100">{m.user.name}</span>
                  {m.user.id === me.id ? <span className="ml-2 text-[11px] text-zinc-500">(you)</span> : null}
                </td>
                <td className="px-3 py-1.5 text-zinc-300">{m.user.email}</td>
                <td className="px-3 py-1.5">
                  <div className="flex items-center gap-2">
                    <Select
                      aria-label={`Role of ${m.user.email}`}
                      data-testid={`member-role-${m.user.email}`}
                      className="h-7 w-40 shrink-0 text-xs"
                      value={m.role.id}
                      disabled={changing || locked !== null}
                      title={locked ?? undefined}
                      onChange={(e) => setRole.mutate({ teamId: team.id, userId: m.user.id, roleId: e.target.value })}
                    >
                      {roles.length === 0 || locked ? <option value={m.role.id}>{m.role.name}</option> : null}
                      {(locked ? [] : choices).map((r) => (
                        <option key={r.id} value={r.id}>
                          {r.name}
                        </option>
                      ))}
                    </Select>
                    {changing ? <Spinner className="size-3.5 text-sky-400" /> : null}
                  </div>
                </td>
                <td className="px-3 py-1.5 text-zinc-400">
                  <RelativeTime date={m.createdAt} />
                </td>
                <td className="py-1.5 pr-4 pl-3 text-right">
                  {locked ? (
                    <span className="text-[11px] text-zinc-600" title={locked} data-testid={`member-locked-${m.user.email}`}>
                      {m.user.id === me.id && !admin ? "you" : "above your role"}
                    </span>
                  ) : (
                    <Button
                      size="xs"
                      variant="ghost"
                      className="border-zinc-800 hover:text-red-300"
                      icon={<UserMinus className="size-3" />}
                      onClick={() => setRemoving(m)}
                      aria-label={`Remove ${m.user.email} from ${team.name}`}
                      data-testid={`remove-member-${m.user.email}`}
                    >
                      Remove
                    </Button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </TableFrame>

      {canAdd ? <AddMemberDialog team={team} roles={ceiling.assignable} open={adding} onClose={() => setAdding(false)} /> : null}
      <ConfirmDialog
        open={removing !== null}
        onClose={() => {
          setRemoving(null);
          remove.reset();
        }}
        title={`Remove ${removing?.user.name ?? ""} from ${team.name}?`}
        confirmLabel="Remove member"
        onConfirm={() => removing && remove.mutate({ teamId: team.id, userId: removing.user.id })}
        pending={remove.isPending}
        error={remove.error}
        testId="remove-member-dialog"
      >
        They lose their {removing?.role.name} rights on the team&apos;s hosts at once. Their account stays.
      </ConfirmDialog>
    </div>
  );
}

function AddMemberDialog({ team, roles, open, onClose }: { team: TeamDetail; roles: Role[]; open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const invalidate = useTeamInvalidation(team.id);
  const users = useQuery(trpc.users.list.queryOptions(undefined, { enabled: open }));
  const [userId, setUserId] = useState("");
  const [roleId, setRoleId] = useState("role_viewer");
  const add = useMutation(
    trpc.teams.setMember.mutationOptions({
      onSuccess: () => {
        toasts.success("Member added");
        close();
      },
      onSettled: invalidate,
    }),
  );
  const memberIds = new Set(team.members.map((m) => m.user.id));
  const candidates = (users.data ?? []).filter((u) => !memberIds.has(u.id));

  function close() {
    onClose();
    setUserId("");
    add.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (userId) add.mutate({ teamId: team.id, userId, roleId });
  }

  return (
    <Dialog open={open} onClose={close} title={`Add a member to ${team.name}`} description="Pick someone who already has an account, and their role in this team." testId="add-member-dialog">
      <form onSubmit={onSubmit} className="flex flex-col gap-4">
        <SelectField label="User" name="user" required value={userId} onChange={(e) => setUserId(e.target.value)} data-testid="add-member-user">
          <option value="" disabled>
            {users.isPending ? "Loading users…" : candidates.length === 0 ? "Everyone is a member already" : "Choose a user"}
          </option>
          {candidates.map((u) => (
            <option key={u.id} value={u.id}>
              {u.name} — {u.email}
            </option>
          ))}
        </SelectField>
        <SelectField
          label="Role"
          name="role"
          value={roleId}
          onChange={(e) => setRoleId(e.target.value)}
          data-testid="add-member-role"
          hint={roles.find((r) => r.id === roleId)?.description || undefined}
        >
          {roles.map((r) => (
            <option key={r.id} value={r.id}>
              {r.name}
            </option>
          ))}
        </SelectField>
        {add.error ? <FormError>{errorMessage(add.error)}</FormError> : null}
        <div className="flex justify-end gap-2">
          <Button size="sm" variant="ghost" onClick={close}>
            Cancel
          </Button>
          <Button size="sm" type="submit" variant="primary" loading={add.isPending} disabled={!userId} data-testid="add-member-submit">
            Add member
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

function Hosts({ team, canShare }: { team: TeamDetail; canShare: boolean }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const invalidate = useTeamInvalidation(team.id);
  const [sharing, setSharing] = useState(false);
  const [unsharing, setUnsharing] = useState<TeamHost | null>(null);
  const unshare = useMutation(
    trpc.hosts.unshare.mutationOptions({
      onSuccess: () => {
        toasts.success(`${unsharing?.name ?? "The host"} no longer belongs to ${team.name}`);
        setUnsharing(null);
      },
      onSettled: () => {
        invalidate();
        void queryClient.invalidateQueries(trpc.hosts.pathFilter());
      },
    }),
  );
  const hosts = team.hosts.map((h) => h.host).sort((a, b) => a.name.localeCompare(b.name));

  return (
    <div className="flex flex-col gap-2" data-testid="team-hosts">
      <div className="flex items-end justify-between gap-3">
        <div>
          <h2 className="text-sm font-semibold text-zinc-100">Hosts</h2>
          <p className="text-xs text-zinc-500">A host can belong to several teams; each team&apos;s members get their role&apos;s rights on it.</p>
        </div>
        {canShare ? (
          <Button size="sm" icon={<Link2 className="size-3.5" />} onClick={() => setSharing(true)} data-testid="share-host-button">
            Share a host
          </Button>
        ) : null}
      </div>
      <TableFrame footer={plural(hosts.length, "host")}>
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <PlainHeader label="Host" className="pl-4" />
            <PlainHeader label="Status" />
            <PlainHeader label="" className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {hosts.length === 0 ? <EmptyRow colSpan={3}>This team has no hosts yet.</EmptyRow> : null}
          {hosts.map((h) => (
            <tr key={h.id} data-testid={`team-host-${h.name}`} className="transition-colors hover:bg-zinc-800/30">
              <td className="py-1.5 pr-3 pl-4">
                <div className="flex items-center gap-2.5">
                  <Server className="size-4 shrink-0 text-zinc-500" aria-hidden />
                  <Link href={`/hosts/${h.id}`} className="font-medium text-zinc-100 hover:text-sky-300 hover:underline">
                    {h.name}
                  </Link>
                </div>
              </td>
              <td className="px-3 py-1.5">
                <HostStatusBadge status={h.status} />
              </td>
              <td className="py-1.5 pr-4 pl-3 text-right">
                {canShare ? (
                  <Button
                    size="xs"
                    variant="ghost"
                    className="border-zinc-800 hover:text-red-300"
                    icon={<Unlink className="size-3" />}
                    onClick={() => setUnsharing(h)}
                    data-testid={`unshare-host-${h.name}`}
                  >
                    Unshare
                  </Button>
                ) : null}
              </td>
            </tr>
          ))}
        </tbody>
      </TableFrame>

      {canShare ? <ShareHostDialog team={team} open={sharing} onClose={() => setSharing(false)} /> : null}
      <ConfirmDialog
        open={unsharing !== null}
        onClose={() => {
          setUnsharing(null);
          unshare.reset();
        }}
        title={`Unshare ${unsharing?.name ?? ""} from ${team.name}?`}
        confirmLabel="Unshare host"
        onConfirm={() => unsharing && unshare.mutate({ hostId: unsharing.id, teamId: team.id })}
        pending={unshare.isPending}
        error={unshare.error}
        testId="unshare-host-dialog"
      >
        Members of {team.name} lose access to this host at once (unless another of their teams has it). The host and its agent are not affected.
      </ConfirmDialog>
    </div>
  );
}

function ShareHostDialog({ team, open, onClose }: { team: TeamDetail; open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const invalidate = useTeamInvalidation(team.id);
  const hosts = useQuery(trpc.hosts.list.queryOptions(undefined, { enabled: open }));
  const [hostId, setHostId] = useState("");
  const share = useMutation(
    trpc.hosts.share.mutationOptions({
      onSuccess: () => {
        toasts.success(`Shared with ${team.name}`);
        close();
      },
      onSettled: () => {
        invalidate();
        void queryClient.invalidateQueries(trpc.hosts.pathFilter());
      },
    }),
  );
  const owned = new Set(team.hosts.map((h) => h.host.id));
  const candidates = (hosts.data ?? []).filter((h) => !owned.has(h.id));

  function close() {
    onClose();
    setHostId("");
    share.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (hostId) share.mutate({ hostId, teamId: team.id });
  }

  return (
    <Dialog open={open} onClose={close} title={`Share a host with ${team.name}`} description="The host keeps its other teams; this team is added to them." testId="share-host-dialog">
      <form onSubmit={onSubmit} className="flex flex-col gap-4">
        <SelectField label="Host" name="host" required value={hostId} onChange={(e) => setHostId(e.target.value)} data-testid="share-host-select">
          <option value="" disabled>
            {hosts.isPending ? "Loading hosts…" : candidates.length === 0 ? "Every host belongs to this team already" : "Choose a host"}
          </option>
          {candidates.map((h) => (
            <option key={h.id} value={h.id}>
              {h.name}
              {h.teams.length ? ` (${h.teams.map((t) => t.team.name).join(", ")})` : ""}
            </option>
          ))}
        </SelectField>
        {share.error ? <FormError>{errorMessage(share.error)}</FormError> : null}
        <div className="flex justify-end gap-2">
          <Button size="sm" variant="ghost" onClick={close}>
            Cancel
          </Button>
          <Button size="sm" type="submit" variant="primary" loading={share.isPending} disabled={!hostId} data-testid="share-host-submit">
            Share host
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

function RemoveTeamDialog({ team, open, onClose }: { team: TeamDetail; open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const remove = useMutation(
    trpc.teams.remove.mutationOptions({
      onSuccess: () => {
        toasts.success(`Removed the team ${team.name}`);
        void queryClient.invalidateQueries(trpc.teams.list.queryFilter());
        void queryClient.invalidateQueries(trpc.hosts.pathFilter());
        void queryClient.invalidateQueries(trpc.users.list.queryFilter());
        router.replace("/settings/teams");
      },
    }),
  );
  return (
    <ConfirmDialog
      open={open}
      onClose={() => {
        onClose();
        remove.reset();
      }}
      title={`Remove the team ${team.name}?`}
      confirmLabel="Remove team"
      onConfirm={() => remove.mutate({ teamId: team.id })}
      pending={remove.isPending}
      error={remove.error}
      testId="remove-team-dialog"
    >
      Its {plural(team.members.length, "member")} lose the rights the team gave them, and its {plural(team.hosts.length, "host")} stop belonging to it
      (hosts with no team left are seen by global admins only). Users and hosts themselves stay.
    </ConfirmDialog>
  );
}
