"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Check, Lock, Minus, Pencil, Plus, Trash2 } from "lucide-react";
import { useState, type FormEvent } from "react";
import { PERMISSION_LABELS, PERMISSIONS, type Permission } from "../../../../server/auth/permissions.ts";
import { ConfirmDialog } from "../../../_components/confirm-dialog";
import { Dialog } from "../../../_components/dialog";
import { useToasts } from "../../../_components/toasts";
import { Button, Field, FormError, PageHeader, Spinner, cx } from "../../../_components/ui";
import { errorMessage, useTRPC, type Role } from "../../../_lib/trpc";
import { useDocumentTitle } from "../../../_lib/use-document-title";
import { PermissionPicker } from "../../_components/permission-picker";

type Editing = { mode: "create" } | { mode: "edit"; role: Role } | null;

export default function RolesPage() {
  const trpc = useTRPC();
  const roles = useQuery(trpc.roles.list.queryOptions());
  const [editing, setEditing] = useState<Editing>(null);
  const [removing, setRemoving] = useState<Role | null>(null);
  useDocumentTitle("Roles");

  const builtIn = roles.data?.filter((r) => r.builtIn) ?? [];
  const custom = roles.data?.filter((r) => !r.builtIn) ?? [];

  return (
    <div className="flex flex-col gap-5">
      <PageHeader
        title="Roles"
        description="A role is a named set of permissions, given to a member in a team. Built-in roles are fixed; define your own for anything in between."
        actions={
          <Button variant="primary" size="sm" icon={<Plus className="size-3.5" />} onClick={() => setEditing({ mode: "create" })} data-testid="new-role-button">
            New role
          </Button>
        }
      />

      {roles.isPending ? (
        <div className="flex justify-center py-20 text-zinc-500">
          <Spinner />
        </div>
      ) : roles.isError ? (
        <div role="alert" className="rounded-lg border border-red-500/30 bg-red-500/5 px-4 py-3 text-sm text-red-200">
          Could not load roles: {errorMessage(roles.error)}
        </div>
      ) : (
        <>
          <RoleGroup title="Built-in" roles={builtIn} />
          <RoleGroup
            title="Custom"
            roles={custom}
            empty="No custom roles yet."
            onEdit={(role) => setEditing({ mode: "edit", role })}
            onRemove={setRemoving}
          />
        </>
      )}

      <RoleDialog editing={editing} onClose={() => setEditing(null)} />
      <RemoveRoleDialog role={removing} onClose={() => setRemoving(null)} />
    </div>
  );
}

function RoleGroup({
  title,
  roles,
  empty,
  onEdit,
  onRemove,
}: {
  title: string;
  roles: Role[];
  empty?: string;
  onEdit?: (role: Role) => void;
  onRemove?: (role: Role) => void;
}) {
  return (
    <div className="flex flex-col gap-2">
      <h2 className="text-[11px] font-medium tracking-wide text-zinc-500 uppercase">{title}</h2>
      {roles.length === 0 ? (
        <p className="rounded-lg border border-dashed border-zinc-800 px-4 py-6 text-center text-xs text-zinc-500">{empty}</p>
      ) : (
        <div className="grid grid-cols-1 gap-3 md:grid-cols-2 xl:grid-cols-3">
          {roles.map((role) => (
            <RoleCard key={role.id} role={role} onEdit={onEdit} onRemove={onRemove} />
          ))}
        </div>
      )}
    </div>
  );
}

function RoleCard({ role, onEdit, onRemove }: { role: Role; onEdit?: (role: Role) => void; onRemove?: (role: Role) => void }) {
  const granted = new Set(role.permissions);
  return (
    <section data-testid={`role-card-${role.name}`} className="flex flex-col rounded-lg border border-zinc-800 bg-zinc-900/40">
      <header className="flex items-start gap-2 border-b border-zinc-800 px-4 py-3">
        <div className="min-w-0 flex-1">
          <div className="flex items-center gap-2">
            <h3 className="truncate text-sm font-semibold text-zinc-100">{role.name}</h3>
            {role.builtIn ? (
              <span className="inline-flex items-center gap-1 rounded border border-zinc-700 px-1.5 py-px text-[10px] font-medium tracking-wide text-zinc-400 uppercase" title="Built-in roles cannot be changed">
                <Lock className="size-2.5" aria-hidden />
                built-in
              </span>
            ) : null}
          </div>
          <p className="mt-0.5 text-xs text-zinc-500">{role.description || <span className="text-zinc-600">No description</span>}</p>
        </div>
        {!role.builtIn && onEdit && onRemove ? (
          <div className="flex shrink-0 gap-1">
            <Button size="xs" variant="ghost" className="border-zinc-800" icon={<Pencil className="size-3" />} onClick={() => onEdit(role)} data-testid={`edit-role-${role.name}`}>
              Edit
            </Button>
            <Button
              size="xs"
              variant="ghost"
              className="border-zinc-800 hover:text-red-300"
              icon={<Trash2 className="size-3" />}
              aria-label={`Remove ${role.name}`}
              onClick={() => onRemove(role)}
              data-testid={`remove-role-${role.name}`}
            />
          </div>
        ) : null}
      </header>
      <ul className="flex flex-col gap-1 px-4 py-3">
        {PERMISSIONS.map((p) => {
          const has = granted.has(p);
          return (
            <li key={p} className={cx("flex items-center gap-2 text-xs", has ? "text-zinc-200" : "text-zinc-600")} data-granted={has || undefined}>
              {has ? <Check className="size-3.5 shrink-0 text-emerald-400" aria-label="granted" /> : <Minus className="size-3.5 shrink-0" aria-label="not granted" />}
              <span className="truncate">{PERMISSION_LABELS[p]}</span>
              <span className={cx("ml-auto shrink-0 font-mono text-[10px]", has ? "text-zinc-500" : "text-zinc-700")}>{p}</span>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function RoleDialog({ editing, onClose }: { editing: Editing; onClose: () => void }) {
  const open = editing !== null;
  // Remount per opening so the form starts from the role being edited.
  const key = editing === null ? "closed" : editing.mode === "edit" ? editing.role.id : "create";
  return (
    <Dialog
      open={open}
      onClose={onClose}
      title={editing?.mode === "edit" ? `Edit ${editing.role.name}` : "New role"}
      description="Members with this role get exactly these permissions on their team's hosts."
      testId="role-dialog"
      className="w-[40rem]"
    >
      {editing ? <RoleForm key={key} editing={editing} onDone={onClose} /> : null}
    </Dialog>
  );
}

function RoleForm({ editing, onDone }: { editing: NonNullable<Editing>; onDone: () => void }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const initial = editing.mode === "edit" ? editing.role : null;
  const [name, setName] = useState(initial?.name ?? "");
  const [description, setDescription] = useState(initial?.description ?? "");
  const [permissions, setPermissions] = useState<Permission[]>((initial?.permissions as Permission[] | undefined) ?? ["host.view"]);
  const onSuccess = () => {
    void queryClient.invalidateQueries(trpc.roles.list.queryFilter());
    void queryClient.invalidateQueries(trpc.auth.me.queryFilter());
    toasts.success(initial ? `Saved ${name.trim()}` : `Created ${name.trim()}`);
    onDone();
  };
  const create = useMutation(trpc.roles.create.mutationOptions({ onSuccess }));
  const update = useMutation(trpc.roles.update.mutationOptions({ onSuccess }));
  const pending = create.isPending || update.isPending;
  const error = create.error ?? update.error;

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    const role = { name: name.trim(), description: description.trim(), permissions };
    if (initial) update.mutate({ roleId: initial.id, role });
    else create.mutate(role);
  }

  return (
    <form onSubmit={onSubmit} className="flex flex-col gap-4">
      <div className="grid grid-cols-[1fr_2fr] gap-3">
        <Field label="Name" name="roleName" required autoFocus autoComplete="off" maxLength={64} value={name} onChange={(e) => setName(e.target.value)} placeholder="Deployer" />
        <Field label="Description" name="roleDescription" autoComplete="off" maxLength={300} value={description} onChange={(e) => setDescription(e.target.value)} placeholder="What this role is for" />
      </div>
      <fieldset className="flex flex-col gap-1.5">
        <legend className="mb-1.5 text-xs font-medium text-zinc-300">Permissions</legend>
        <PermissionPicker value={permissions} onChange={setPermissions} testId="role-permissions" />
        {initial ? <p className="text-xs text-zinc-500">Changes apply at once to every member who has this role.</p> : null}
      </fieldset>
      {error ? <FormError>{errorMessage(error)}</FormError> : null}
      <div className="flex justify-end gap-2">
        <Button size="sm" variant="ghost" onClick={onDone}>
          Cancel
        </Button>
        <Button size="sm" type="submit" variant="primary" loading={pending} disabled={permissions.length === 0} data-testid="role-submit">
          {initial ? "Save role" : "Create role"}
        </Button>
      </div>
    </form>
  );
}

function RemoveRoleDialog({ role, onClose }: { role: Role | null; onClose: () => void }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const remove = useMutation(
    trpc.roles.remove.mutationOptions({
      onSuccess: () => {
        toasts.success(`Removed ${role?.name ?? "the role"}`);
        void queryClient.invalidateQueries(trpc.roles.list.queryFilter());
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
      open={role !== null}
      onClose={close}
      title={`Remove the role ${role?.name ?? ""}?`}
      confirmLabel="Remove role"
      onConfirm={() => role && remove.mutate({ roleId: role.id })}
      pending={remove.isPending}
      error={remove.error}
      testId="remove-role-dialog"
    >
      A role still given to team members cannot be removed: change their role first.
    </ConfirmDialog>
  );
}
