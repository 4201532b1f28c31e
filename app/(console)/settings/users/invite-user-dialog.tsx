"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { CircleCheck } from "lucide-react";
import { useState, type FormEvent } from "react";
import { OneTimeSecret } from "../../../_components/copy-button";
import { Dialog } from "../../../_components/dialog";
import { Button, Checkbox, Field, FormError, SelectField } from "../../../_components/ui";
import { errorMessage, useTRPC } from "../../../_lib/trpc";

const MIN_PASSWORD = 12;
const EMPTY = { name: "", email: "", password: "", globalAdmin: false, teamId: "", roleId: "" };

/**
 * Creates an account. Without a password Berth generates one and returns it
 * this once; the admin hands it over (the person changes it on their account page).
 */
export function InviteUserDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [form, setForm] = useState(EMPTY);
  const teams = useQuery(trpc.teams.list.queryOptions(undefined, { enabled: open }));
  const roles = useQuery(trpc.roles.list.queryOptions(undefined, { enabled: open }));
  const invite = useMutation(
    trpc.users.invite.mutationOptions({
      onSuccess: () => {
        void queryClient.invalidateQueries(trpc.users.list.queryFilter());
        void queryClient.invalidateQueries(trpc.teams.pathFilter());
      },
    }),
  );

  function close() {
    onClose();
    setForm(EMPTY);
    invite.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    invite.mutate({
      name: form.name.trim(),
      email: form.email.trim(),
      password: form.password === "" ? undefined : form.password,
      globalAdmin: form.globalAdmin,
      teamId: form.teamId || undefined,
      roleId: form.teamId ? form.roleId || undefined : undefined,
    });
  }

  const set = (key: "name" | "email" | "password") => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));
  const pickTeam = (teamId: string) =>
    setForm((f) => ({
      ...f,
      teamId,
      // A role is needed with a team; Viewer (least privilege) unless one was already picked.
      roleId: teamId ? f.roleId || roles.data?.find((r) => r.id === "role_viewer")?.id || roles.data?.[0]?.id || "" : "",
    }));

  const done = invite.data;

  return (
    <Dialog
      open={open}
      onClose={close}
      testId="invite-user-dialog"
      title={done ? "User invited" : "Invite a user"}
      description={done ? undefined : "Create an account for someone; they sign in with their email and the initial password."}
    >
      {done ? (
        <div className="flex flex-col gap-4" data-testid="invite-result">
          <div className="flex items-start gap-2.5 text-[13px] text-zinc-300">
            <CircleCheck className="mt-0.5 size-4 shrink-0 text-emerald-400" aria-hidden />
            <p>
              <span className="font-medium text-zinc-100">{done.email}</span> can sign in now.
            </p>
          </div>
          {done.initialPassword ? (
            <div className="flex flex-col gap-1.5">
              <p className="text-xs font-medium text-zinc-300">Initial password</p>
              <OneTimeSecret value={done.initialPassword} testId="initial-password">
                give it to them over a channel you trust, and ask them to change it on their Account page.
              </OneTimeSecret>
            </div>
          ) : (
            <p className="text-xs text-zinc-400">They sign in with the password you chose; ask them to change it on their Account page.</p>
          )}
          <div className="flex justify-end border-t border-zinc-800 pt-4">
            <Button size="sm" variant="primary" onClick={close} data-testid="invite-done">
              Done
            </Button>
          </div>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="flex flex-col gap-4">
          <div className="grid grid-cols-2 gap-3">
            <Field label="Name" name="name" required autoFocus autoComplete="off" maxLength={100} value={form.name} onChange={set("name")} placeholder="Grace Hopper" />
            <Field label="Email" name="email" type="email" required autoComplete="off" maxLength={254} value={form.email} onChange={set("email")} placeholder="grace@example.com" />
          </div>
          <Field
            label="Initial password (optional)"
            name="initialPassword"
            type="password"
            autoComplete="new-password"
            minLength={MIN_PASSWORD}
            maxLength={256}
            value={form.password}
            onChange={set("password")}
            hint={`Leave empty and Berth generates one, shown once. At least ${MIN_PASSWORD} characters otherwise.`}
          />
          <div className="grid grid-cols-2 gap-3">
            <SelectField label="Team (optional)" name="team" value={form.teamId} onChange={(e) => pickTeam(e.target.value)} data-testid="invite-team">
              <option value="">No team</option>
              {teams.data?.map((t) => (
                <option key={t.id} value={t.id}>
                  {t.name}
                </option>
              ))}
            </SelectField>
            <SelectField
              label="Role in the team"
              name="role"
              value={form.roleId}
              disabled={!form.teamId}
              onChange={(e) => setForm((f) => ({ ...f, roleId: e.target.value }))}
              data-testid="invite-role"
            >
              {!form.teamId ? <option value="">—</option> : null}
              {roles.data?.map((r) => (
                <option key={r.id} value={r.id}>
                  {r.name}
                </option>
              ))}
            </SelectField>
          </div>
          <Checkbox
            label="Administrator"
            description="Global admins manage users, teams, roles and every host, and see the whole audit trail."
            checked={form.globalAdmin}
            onChange={(e) => setForm((f) => ({ ...f, globalAdmin: e.target.checked }))}
            data-testid="invite-admin"
          />
          {invite.error ? <FormError>{errorMessage(invite.error)}</FormError> : null}
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={close}>
              Cancel
            </Button>
            <Button size="sm" type="submit" variant="primary" loading={invite.isPending} data-testid="invite-submit">
              Invite user
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
