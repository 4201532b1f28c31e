"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Plus, UsersRound } from "lucide-react";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState, type FormEvent } from "react";
import { Dialog } from "../../../_components/dialog";
import { RelativeTime } from "../../../_components/status";
import { EmptyRow, SortHeader, TableFrame, useSortedRows } from "../../../_components/table";
import { Button, Field, FormError, PageHeader, Spinner } from "../../../_components/ui";
import { plural } from "../../../_lib/format";
import { errorMessage, useTRPC, type Team } from "../../../_lib/trpc";
import { useDocumentTitle } from "../../../_lib/use-document-title";

const TEAM_SORT = {
  name: (t: Team) => t.name,
  members: (t: Team) => t._count.members,
  hosts: (t: Team) => t._count.hosts,
  created: (t: Team) => -t.createdAt.getTime(),
};

export default function TeamsPage() {
  const trpc = useTRPC();
  const teams = useQuery(trpc.teams.list.queryOptions());
  const [creating, setCreating] = useState(false);
  const { sorted, sort, toggle } = useSortedRows(teams.data ?? [], TEAM_SORT, { key: "name", dir: "asc" });
  const head = { sort, onSort: toggle };
  useDocumentTitle("Teams");

  return (
    <div className="flex flex-col gap-5">
      <PageHeader
        title="Teams"
        description="Hosts belong to teams; a member's role in a team decides what they may do on its hosts."
        actions={
          <Button variant="primary" size="sm" icon={<Plus className="size-3.5" />} onClick={() => setCreating(true)} data-testid="new-team-button">
            New team
          </Button>
        }
      />

      <TableFrame footer={teams.data ? plural(teams.data.length, "team") : undefined}>
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <SortHeader label="Team" column="name" {...head} className="pl-4" />
            <SortHeader label="Members" column="members" {...head} align="right" />
            <SortHeader label="Hosts" column="hosts" {...head} align="right" />
            <SortHeader label="Created" column="created" {...head} className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {teams.isPending ? (
            <EmptyRow colSpan={4}>
              <Spinner className="mx-auto size-4" />
            </EmptyRow>
          ) : teams.isError ? (
            <EmptyRow colSpan={4}>Could not load teams: {errorMessage(teams.error)}</EmptyRow>
          ) : sorted.length === 0 ? (
            <EmptyRow colSpan={4}>No teams yet. Create one, give it hosts, and add people with a role.</EmptyRow>
          ) : (
            sorted.map((team) => (
              <tr key={team.id} data-testid={`team-row-${team.name}`} className="transition-colors hover:bg-zinc-800/30">
                <td className="py-2.5 pr-3 pl-4">
                  <div className="flex items-center gap-2.5">
                    <UsersRound className="size-4 shrink-0 text-zinc-500" aria-hidden />
                    <Link href={`/settings/teams/${team.id}`} data-testid={`team-link-${team.name}`} className="font-medium text-zinc-100 hover:text-sky-300 hover:underline">
                      {team.name}
                    </Link>
                  </div>
                </td>
                <td className="px-3 py-2.5 text-right text-zinc-300 tabular-nums">{team._count.members}</td>
                <td className="px-3 py-2.5 text-right text-zinc-300 tabular-nums">{team._count.hosts}</td>
                <td className="py-2.5 pr-4 pl-3 text-zinc-400">
                  <RelativeTime date={team.createdAt} />
                </td>
              </tr>
            ))
          )}
        </tbody>
      </TableFrame>

      <NewTeamDialog open={creating} onClose={() => setCreating(false)} />
    </div>
  );
}

function NewTeamDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const create = useMutation(
    trpc.teams.create.mutationOptions({
      onSuccess: (team) => {
        void queryClient.invalidateQueries(trpc.teams.list.queryFilter());
        close();
        router.push(`/settings/teams/${team.id}`);
      },
    }),
  );

  function close() {
    onClose();
    setName("");
    create.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name: name.trim() });
  }

  return (
    <Dialog open={open} onClose={close} title="New team" description="Then add members with a role, and give the team hosts." testId="new-team-dialog">
      <form onSubmit={onSubmit} className="flex flex-col gap-4">
        <Field label="Team name" name="teamName" required autoFocus autoComplete="off" maxLength={64} value={name} onChange={(e) => setName(e.target.value)} placeholder="platform" />
        {create.error ? <FormError>{errorMessage(create.error)}</FormError> : null}
        <div className="flex justify-end gap-2">
          <Button size="sm" variant="ghost" onClick={close}>
            Cancel
          </Button>
          <Button size="sm" type="submit" variant="primary" loading={create.isPending} data-testid="create-team-submit">
            Create team
          </Button>
        </div>
      </form>
    </Dialog>
  );
}
