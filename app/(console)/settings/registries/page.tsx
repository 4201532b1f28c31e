"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Boxes, Pencil, PlugZap, Plus, Trash2 } from "lucide-react";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { ConfirmDialog } from "../../../_components/confirm-dialog";
import { Dialog } from "../../../_components/dialog";
import { useToasts } from "../../../_components/toasts";
import { EmptyRow, PlainHeader, TableFrame } from "../../../_components/table";
import { Button, Checkbox, Code, Field, FormError, PageHeader, SelectField, Spinner } from "../../../_components/ui";
import { canAnywhere, canInTeam } from "../../../_lib/access";
import { plural } from "../../../_lib/format";
import { useSessionUser } from "../../../_lib/session";
import { errorMessage, useTRPC, type RouterOutputs } from "../../../_lib/trpc";
import { useDocumentTitle } from "../../../_lib/use-document-title";

type Registry = RouterOutputs["registries"]["list"][number];

export default function RegistriesPage() {
  const trpc = useTRPC();
  const user = useSessionUser();
  const toasts = useToasts();
  const registries = useQuery(trpc.registries.list.queryOptions());
  const [adding, setAdding] = useState(false);
  const [editing, setEditing] = useState<Registry | null>(null);
  const [removing, setRemoving] = useState<Registry | null>(null);
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries(trpc.registries.list.queryFilter());
  const test = useMutation(
    trpc.registries.test.mutationOptions({
      onSuccess: (result, input) => {
        const name = registries.data?.find((r) => r.id === input.registryId)?.name ?? "Registry";
        toasts.success(`${name} answers`, result.authenticated ? "The stored credentials were accepted." : "Reached anonymously (no credentials stored).");
      },
      onError: (error) => toasts.error("Connection test failed", errorMessage(error)),
    }),
  );
  const remove = useMutation(
    trpc.registries.remove.mutationOptions({
      onSuccess: () => {
        setRemoving(null);
        void refresh();
      },
    }),
  );
  useDocumentTitle("Registries");

  return (
    <div className="flex flex-col gap-5">
      <PageHeader
        title="Registries"
        description="Image registries your teams pull from and push to. Passwords are encrypted on the server and never shown again."
        actions={
          canAnywhere(user, "registry.manage") ? (
            <Button variant="primary" size="sm" icon={<Plus className="size-3.5" />} onClick={() => setAdding(true)} data-testid="add-registry-button">
              Add registry
            </Button>
          ) : null
        }
      />

      <TableFrame footer={registries.data ? plural(registries.data.length, "registry", "registries") : undefined}>
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <PlainHeader label="Registry" className="pl-4" />
            <PlainHeader label="Address" />
            <PlainHeader label="Signs in as" />
            <PlainHeader label="Teams" />
            <PlainHeader label="" className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {registries.isPending ? (
            <EmptyRow colSpan={5}>
              <Spinner className="mx-auto size-4" />
            </EmptyRow>
          ) : registries.isError ? (
            <EmptyRow colSpan={5}>Could not load registries: {errorMessage(registries.error)}</EmptyRow>
          ) : registries.data.length === 0 ? (
            <EmptyRow colSpan={5}>No registries yet.{canAnywhere(user, "registry.manage") ? " Add one to browse it and to pull and push with its credentials." : ""}</EmptyRow>
          ) : (
            registries.data.map((registry) => (
              <tr key={registry.id} data-testid={`registry-row-${registry.name}`} className="transition-colors hover:bg-zinc-800/30">
                <td className="py-2.5 pr-3 pl-4">
                  <Link href={`/settings/registries/${registry.id}`} data-testid={`registry-link-${registry.name}`} className="flex items-center gap-2.5 font-medium text-zinc-100 hover:text-sky-300 hover:underline">
                    <Boxes className="size-4 shrink-0 text-zinc-500" aria-hidden />
                    {registry.name}
                  </Link>
                </td>
                <td className="px-3 py-2.5">
                  <Code>{registry.url}</Code>
                </td>
                <td className="px-3 py-2.5 text-zinc-300">
                  {registry.username ? (
                    <>
                      {registry.username} {registry.hasPassword ? <span className="text-zinc-500">· password stored</span> : null}
                    </>
                  ) : (
                    <span className="text-zinc-500">anonymous</span>
                  )}
                </td>
                <td className="px-3 py-2.5 text-zinc-400">{registry.teams.map((t) => t.name).join(", ") || "admins only"}</td>
                <td className="py-2.5 pr-4 pl-3">
                  {registry.canManage ? (
                    <div className="flex justify-end gap-1.5">
                      <Button
                        size="sm"
                        variant="ghost"
                        icon={<PlugZap className="size-3.5" />}
                        loading={test.isPending && test.variables?.registryId === registry.id}
                        onClick={() => test.mutate({ registryId: registry.id })}
                        data-testid={`registry-test-${registry.name}`}
                      >
                        Test
                      </Button>
                      <Button size="sm" variant="ghost" icon={<Pencil className="size-3.5" />} onClick={() => setEditing(registry)} data-testid={`registry-edit-${registry.name}`}>
                        Edit
                      </Button>
                      <Button size="sm" variant="ghost" icon={<Trash2 className="size-3.5" />} onClick={() => setRemoving(registry)} data-testid={`registry-remove-${registry.name}`}>
                        Remove
                      </Button>
                    </div>
                  ) : null}
                </td>
              </tr>
            ))
          )}
        </tbody>
      </TableFrame>

      <RegistryDialog open={adding} onClose={() => setAdding(false)} registry={null} onSaved={refresh} testId="registry-add-dialog" />
      <RegistryDialog open={editing !== null} onClose={() => setEditing(null)} registry={editing} onSaved={refresh} testId="registry-edit-dialog" />
      <ConfirmDialog
        open={removing !== null}
        onClose={() => {
          setRemoving(null);
          remove.reset();
        }}
        title={`Remove ${removing?.name ?? "registry"}?`}
        confirmLabel="Remove registry"
        onConfirm={() => removing && remove.mutate({ registryId: removing.id })}
        pending={remove.isPending}
        error={remove.error}
        testId="remove-registry-dialog"
      >
        Its stored credentials are deleted. Images already pulled stay on the hosts.
      </ConfirmDialog>
    </div>
  );
}

/** Add (registry = null) or edit one. On edit an empty password keeps the stored one. */
function RegistryDialog({
  open,
  onClose,
  registry,
  onSaved,
  testId,
}: {
  open: boolean;
  onClose: () => void;
  registry: Registry | null;
  onSaved: () => void;
  testId: string;
}) {
  const trpc = useTRPC();
  const user = useSessionUser();
  const teams = useQuery({ ...trpc.teams.list.queryOptions(), enabled: open });
  const manageable = (teams.data ?? []).filter((t) => canInTeam(user, t.id, "registry.manage"));
  const [form, setForm] = useState({ name: "", url: "", username: "", password: "", teamId: "" });
  const [loadedFor, setLoadedFor] = useState<string | null>(null);
  if (open && registry && loadedFor !== registry.id) {
    setLoadedFor(registry.id);
    setForm({ name: registry.name, url: registry.url, username: registry.username ?? "", password: "", teamId: "" });
  }
  const done = () => {
    onSaved();
    close();
  };
  const create = useMutation(trpc.registries.create.mutationOptions({ onSuccess: done }));
  const update = useMutation(trpc.registries.update.mutationOptions({ onSuccess: done }));
  const saving = create.isPending || update.isPending;
  const error = create.error ?? update.error;

  function close() {
    onClose();
    setForm({ name: "", url: "", username: "", password: "", teamId: "" });
    setLoadedFor(null);
    create.reset();
    update.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const username = form.username.trim() || null;
    if (registry) {
      update.mutate({
        registryId: registry.id,
        name: form.name.trim(),
        url: form.url.trim(),
        username,
        // Empty keeps the stored password, unless the username was cleared (anonymous).
        password: username === null ? null : form.password ? form.password : undefined,
      });
    } else {
      const teamId = form.teamId || manageable[0]?.id || "";
      create.mutate({ teamId, name: form.name.trim(), url: form.url.trim(), username, password: form.password || null });
    }
  }

  const addressChanged = Boolean(registry?.hasPassword) && form.url.trim() !== registry?.url;
  const set = (key: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));

  return (
    <Dialog
      open={open}
      onClose={close}
      title={registry ? `Edit ${registry.name}` : "Add registry"}
      description="Berth talks to the registry's v2 API (basic or token auth) and hands these credentials to agents for each pull and push."
      testId={testId}
    >
      <form onSubmit={onSubmit} className="flex flex-col gap-4" autoComplete="off">
        <Field label="Name" name="registryName" required autoFocus maxLength={64} value={form.name} onChange={set("name")} placeholder="company registry" />
        <Field label="Address" name="registryUrl" required maxLength={300} value={form.url} onChange={set("url")} placeholder="https://registry.example.com or http://127.0.0.1:5000" />
        <div className="grid grid-cols-2 gap-3">
          <Field label="Username" name="registryUsername" maxLength={200} value={form.username} onChange={set("username")} placeholder="optional" autoComplete="off" />
          <Field
            label="Password or token"
            name="registryPassword"
            type="password"
            maxLength={4096}
            value={form.password}
            onChange={set("password")}
            placeholder={addressChanged ? "needed again" : registry?.hasPassword ? "unchanged" : "optional"}
            // The stored password is sealed to the address: a new address needs it typed again.
            required={addressChanged && form.username.trim() !== ""}
            autoComplete="new-password"
          />
        </div>
        {registry ? <SharedWith registry={registry} teams={manageable} onChanged={onSaved} /> : null}
        {registry ? null : (
          <SelectField label="Team" name="registryTeam" value={form.teamId || manageable[0]?.id || ""} onChange={set("teamId")} hint="Members of this team may browse it and pull with it.">
            {manageable.map((t) => (
              <option key={t.id} value={t.id}>
                {t.name}
              </option>
            ))}
          </SelectField>
        )}
        {error ? <FormError>{errorMessage(error)}</FormError> : null}
        <div className="flex justify-end gap-2">
          <Button size="sm" variant="ghost" onClick={close}>
            Cancel
          </Button>
          <Button size="sm" type="submit" variant="primary" loading={saving} data-testid="registry-save">
            {registry ? "Save" : "Add registry"}
          </Button>
        </div>
      </form>
    </Dialog>
  );
}

/** The teams that may use a registry, among those the user manages: ticking one shares it at once. */
function SharedWith({ registry, teams, onChanged }: { registry: Registry; teams: Array<{ id: string; name: string }>; onChanged: () => void }) {
  const trpc = useTRPC();
  const [shared, setShared] = useState(() => new Set(registry.teams.map((t) => t.id)));
  const apply = (result: Registry) => {
    setShared(new Set(result.teams.map((t) => t.id)));
    onChanged();
  };
  // Ticked at once; put back if the server refuses.
  const revert = (_error: unknown, input: { teamId: string }) =>
    setShared((set) => {
      const next = new Set(set);
      if (next.has(input.teamId)) next.delete(input.teamId);
      else next.add(input.teamId);
      return next;
    });
  const share = useMutation(trpc.registries.share.mutationOptions({ onSuccess: apply, onError: revert }));
  const unshare = useMutation(trpc.registries.unshare.mutationOptions({ onSuccess: apply, onError: revert }));
  const toggle = (teamId: string, on: boolean) => {
    setShared((set) => {
      const next = new Set(set);
      if (on) next.add(teamId);
      else next.delete(teamId);
      return next;
    });
    (on ? share : unshare).mutate({ registryId: registry.id, teamId });
  };
  if (teams.length === 0) return null;
  const error = share.error ?? unshare.error;
  return (
    <fieldset className="flex flex-col gap-2" data-testid="registry-teams">
      <legend className="mb-1 text-xs font-medium text-zinc-300">Teams that may use it</legend>
      {teams.map((team) => (
        <Checkbox
          key={team.id}
          label={team.name}
          checked={shared.has(team.id)}
          disabled={share.isPending || unshare.isPending}
          onChange={(e) => toggle(team.id, e.target.checked)}
          data-testid={`registry-team-${team.name}`}
        />
      ))}
      {error ? <FormError>{errorMessage(error)}</FormError> : null}
    </fieldset>
  );
}
