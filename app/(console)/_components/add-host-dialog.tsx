"use client";

import { useMutation, useQuery } from "@tanstack/react-query";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { Dialog } from "../../_components/dialog";
import { Button, Checkbox, Field, FormError, buttonClasses } from "../../_components/ui";
import { errorMessage, useTRPC } from "../../_lib/trpc";
import { JoinPanel } from "./join-command";

/**
 * Names a new host and the team(s) that own it, then offers its agent's join
 * command (the token is only minted when the admin asks for it). Only members
 * of the owning teams (and global admins) see the host.
 */
export function AddHostDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const [name, setName] = useState("");
  const [teamIds, setTeamIds] = useState<string[]>([]);
  const teams = useQuery(trpc.teams.list.queryOptions(undefined, { enabled: open }));
  const create = useMutation(trpc.hosts.create.mutationOptions());

  function close() {
    onClose();
    setName("");
    setTeamIds([]);
    create.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name: name.trim(), teamIds });
  }

  const toggleTeam = (id: string, on: boolean) => setTeamIds((ids) => (on ? [...ids, id] : ids.filter((t) => t !== id)));

  const host = create.data;

  return (
    <Dialog
      open={open}
      onClose={close}
      testId="add-host-dialog"
      title={host ? `Connect ${host.hostName}` : "Add a host"}
      description={host ? "Start the Berth agent on the machine with a single-use join token." : "Give the Docker host a name; then create a one-time command for its agent."}
    >
      {host ? (
        <div className="flex flex-col gap-4">
          <JoinPanel hostId={host.hostId} hostName={host.hostName} />
          <div className="flex justify-end gap-2 border-t border-zinc-800 pt-4">
            <Link href={`/hosts/${host.hostId}`} onClick={close} className={buttonClasses("secondary", "sm")}>
              Open host
            </Link>
            <Button size="sm" variant="primary" onClick={close} data-testid="add-host-done">
              Done
            </Button>
          </div>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="flex flex-col gap-4">
          <Field
            label="Host name"
            name="hostName"
            required
            autoFocus
            autoComplete="off"
            spellCheck={false}
            maxLength={64}
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="web-01"
            hint="Letters, digits, dot, dash or underscore. Usually the machine's hostname."
          />
          <fieldset className="flex flex-col gap-1.5">
            <legend className="mb-1.5 text-xs font-medium text-zinc-300">Owning teams</legend>
            {teams.data && teams.data.length > 0 ? (
              <div className="flex max-h-40 flex-col gap-2 overflow-y-auto rounded-md border border-zinc-800 bg-zinc-950/50 px-3 py-2.5" data-testid="host-team-picker">
                {teams.data.map((team) => (
                  <Checkbox
                    key={team.id}
                    label={team.name}
                    description={`${team._count.members} member${team._count.members === 1 ? "" : "s"}`}
                    checked={teamIds.includes(team.id)}
                    onChange={(e) => toggleTeam(team.id, e.target.checked)}
                  />
                ))}
              </div>
            ) : (
              <p className="text-xs text-zinc-500">{teams.isPending ? "Loading teams…" : "No teams yet."}</p>
            )}
            <p className="text-xs text-zinc-500">
              Members of these teams get their role&apos;s rights on the host. With none, only global admins see it; share it later from a team&apos;s page.
            </p>
          </fieldset>
          {create.error ? <FormError>{errorMessage(create.error)}</FormError> : null}
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={close}>
              Cancel
            </Button>
            <Button size="sm" type="submit" variant="primary" loading={create.isPending} data-testid="create-host-submit">
              Create host
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
