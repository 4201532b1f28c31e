"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Ban, KeySquare, Plus } from "lucide-react";
import { useState, type FormEvent } from "react";
import type { Permission } from "../../../server/auth/permissions.ts";
import { ConfirmDialog } from "../../_components/confirm-dialog";
import { OneTimeSecret } from "../../_components/copy-button";
import { Dialog } from "../../_components/dialog";
import { Badge, RelativeTime } from "../../_components/status";
import { EmptyRow, PlainHeader, TableFrame } from "../../_components/table";
import { useToasts } from "../../_components/toasts";
import { Button, Code, Field, FormError, SelectField, Spinner } from "../../_components/ui";
import { plural } from "../../_lib/format";
import { useSessionUser } from "../../_lib/session";
import { useNow } from "../../_lib/use-now";
import { errorMessage, useTRPC, type ApiToken } from "../../_lib/trpc";
import { PermissionPicker } from "../_components/permission-picker";

const EXPIRY_CHOICES = [
  { value: "7", label: "7 days" },
  { value: "30", label: "30 days" },
  { value: "90", label: "90 days" },
  { value: "365", label: "1 year" },
  { value: "never", label: "Never" },
];

function tokenState(token: ApiToken, now: number): { tone: "green" | "zinc" | "red"; label: string } {
  if (token.revokedAt) return { tone: "zinc", label: "revoked" };
  if (token.expiresAt && token.expiresAt.getTime() <= (now || Date.now())) return { tone: "red", label: "expired" };
  return { tone: "green", label: "active" };
}

/** Tokens for scripts and CI: they act as you (optionally with fewer permissions) and are sent as a Bearer header. */
export function ApiTokens() {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const tokens = useQuery(trpc.account.tokens.queryOptions());
  const now = useNow();
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<ApiToken | null>(null);
  const revoke = useMutation(
    trpc.account.revokeToken.mutationOptions({
      onSuccess: () => {
        toasts.success(`Revoked ${revoking?.name ?? "the token"}`);
        setRevoking(null);
      },
      onSettled: () => queryClient.invalidateQueries(trpc.account.tokens.queryFilter()),
    }),
  );
  const list = tokens.data ?? [];
  const active = list.filter((t) => tokenState(t, now).label === "active").length;

  return (
    <div className="flex flex-col gap-2" data-testid="api-tokens">
      <div className="flex items-end justify-between gap-3">
        <div>
          <h2 className="text-sm font-semibold text-zinc-100">API tokens</h2>
          <p className="text-xs text-zinc-500">
            For scripts and automation. A token acts as you — limited to the permissions you pick — and is sent as{" "}
            <Code>Authorization: Bearer …</Code>
          </p>
        </div>
        <Button size="sm" variant="primary" icon={<Plus className="size-3.5" />} onClick={() => setCreating(true)} data-testid="new-token-button">
          New token
        </Button>
      </div>
      <TableFrame footer={tokens.data ? `${plural(list.length, "token")} · ${active} active` : undefined}>
        <thead className="border-b border-zinc-800 bg-zinc-900/60">
          <tr>
            <PlainHeader label="Name" className="pl-4" />
            <PlainHeader label="Token" />
            <PlainHeader label="Permissions" />
            <PlainHeader label="State" />
            <PlainHeader label="Created" />
            <PlainHeader label="Last used" />
            <PlainHeader label="Expires" />
            <PlainHeader label="" className="pr-4" />
          </tr>
        </thead>
        <tbody className="divide-y divide-zinc-800/70">
          {tokens.isPending ? (
            <EmptyRow colSpan={8}>
              <Spinner className="mx-auto size-4" />
            </EmptyRow>
          ) : tokens.isError ? (
            <EmptyRow colSpan={8}>Could not load tokens: {errorMessage(tokens.error)}</EmptyRow>
          ) : list.length === 0 ? (
            <EmptyRow colSpan={8}>No API tokens yet.</EmptyRow>
          ) : (
            list.map((token) => {
              const state = tokenState(token, now);
              return (
                <tr key={token.id} data-testid={`token-row-${token.name}`} className={state.label === "active" ? "transition-colors hover:bg-zinc-800/30" : "opacity-60"}>
                  <td className="py-1.5 pr-3 pl-4">
                    <div className="flex items-center gap-2">
                      <KeySquare className="size-3.5 shrink-0 text-zinc-500" aria-hidden />
                      <span className="font-medium text-zinc-100">{token.name}</span>
                    </div>
                  </td>
                  <td className="px-3 py-1.5">
                    <Code>{token.prefix}…</Code>
                  </td>
                  <td className="max-w-80 px-3 py-1.5">
                    {token.allPermissions ? (
                      <span className="text-xs text-zinc-400">All of yours</span>
                    ) : token.permissions.length === 0 ? (
                      <span className="text-xs text-zinc-500">None</span>
                    ) : (
                      <div className="flex flex-wrap gap-1">
                        {token.permissions.map((p) => (
                          <Code key={p}>{p}</Code>
                        ))}
                      </div>
                    )}
                  </td>
                  <td className="px-3 py-1.5">
                    <Badge tone={state.tone}>{state.label}</Badge>
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">
                    <RelativeTime date={token.createdAt} />
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">
                    <RelativeTime date={token.lastUsedAt} />
                  </td>
                  <td className="px-3 py-1.5 whitespace-nowrap text-zinc-400">{token.expiresAt ? <RelativeTime date={token.expiresAt} /> : "never"}</td>
                  <td className="py-1.5 pr-4 pl-3 text-right">
                    {state.label === "active" ? (
                      <Button
                        size="xs"
                        variant="ghost"
                        className="border-zinc-800 hover:text-red-300"
                        icon={<Ban className="size-3" />}
                        onClick={() => setRevoking(token)}
                        data-testid={`revoke-token-${token.name}`}
                      >
                        Revoke
                      </Button>
                    ) : null}
                  </td>
                </tr>
              );
            })
          )}
        </tbody>
      </TableFrame>

      <NewTokenDialog open={creating} onClose={() => setCreating(false)} />
      <ConfirmDialog
        open={revoking !== null}
        onClose={() => {
          setRevoking(null);
          revoke.reset();
        }}
        title={`Revoke ${revoking?.name ?? ""}?`}
        confirmLabel="Revoke token"
        onConfirm={() => revoking && revoke.mutate({ tokenId: revoking.id })}
        pending={revoke.isPending}
        error={revoke.error}
        testId="revoke-token-dialog"
      >
        Requests with this token are refused from now on. Anything still using it stops working; this cannot be undone.
      </ConfirmDialog>
    </div>
  );
}

function NewTokenDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [name, setName] = useState("");
  const [expiry, setExpiry] = useState("90");
  // No default: "all of my permissions" is a choice the person makes, never what an untouched form means.
  const [scope, setScope] = useState<"all" | "some" | null>(null);
  const [permissions, setPermissions] = useState<Permission[]>(["host.view"]);
  const me = useSessionUser();
  const create = useMutation(trpc.account.createToken.mutationOptions({ onSuccess: () => queryClient.invalidateQueries(trpc.account.tokens.queryFilter()) }));

  function close() {
    onClose();
    setName("");
    setExpiry("90");
    setScope(null);
    setPermissions(["host.view"]);
    create.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    if (!scope) return;
    create.mutate({
      name: name.trim(),
      scope: scope === "all" ? { all: true } : { permissions },
      expiresInDays: expiry === "never" ? null : Number(expiry),
    });
  }

  const made = create.data;

  return (
    <Dialog
      open={open}
      onClose={close}
      title={made ? `Token ${made.name}` : "New API token"}
      description={made ? undefined : "It acts as you, with your teams' rights, narrowed to the permissions you pick."}
      testId="new-token-dialog"
      className="w-[40rem]"
    >
      {made ? (
        <div className="flex flex-col gap-4" data-testid="token-result">
          <OneTimeSecret value={made.token} testId="new-token-value">
            send it as <Code>Authorization: Bearer {made.prefix}…</Code>
          </OneTimeSecret>
          <div className="rounded-md border border-zinc-800 bg-zinc-950/60 px-3 py-2.5">
            <p className="mb-1.5 text-[11px] font-medium tracking-wide text-zinc-500 uppercase">Example</p>
            <pre className="overflow-x-auto font-mono text-[11px] leading-relaxed whitespace-pre text-zinc-300">
              {`curl -H "Authorization: Bearer $BERTH_TOKEN" \\\n  ${typeof window === "undefined" ? "" : window.location.origin}/api/trpc/hosts.list`}
            </pre>
          </div>
          <div className="flex justify-end border-t border-zinc-800 pt-4">
            <Button size="sm" variant="primary" onClick={close} data-testid="token-done">
              Done
            </Button>
          </div>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="flex flex-col gap-4">
          <div className="grid grid-cols-[2fr_1fr] gap-3">
            <Field label="Name" name="tokenName" required autoFocus autoComplete="off" maxLength={100} value={name} onChange={(e) => setName(e.target.value)} placeholder="ci-deploy" hint="What uses it, so you know what breaks when you revoke it." />
            <SelectField label="Expires after" name="expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)}>
              {EXPIRY_CHOICES.map((c) => (
                <option key={c.value} value={c.value}>
                  {c.label}
                </option>
              ))}
            </SelectField>
          </div>
          <fieldset className="flex flex-col gap-2" data-testid="token-scope">
            <legend className="mb-1 text-xs font-medium text-zinc-300">What may it do?</legend>
            <ScopeChoice
              name="tokenScope"
              value="some"
              checked={scope === "some"}
              onChange={() => setScope("some")}
              label="Only the permissions I pick"
              description={
                me.access.isGlobalAdmin
                  ? "Held only in the teams you are a member of: a narrowed token is never an administrator."
                  : "Held only where your roles give them."
              }
              testId="token-scope-some"
            />
            {scope === "some" ? <PermissionPicker value={permissions} onChange={setPermissions} testId="token-permissions" /> : null}
            <ScopeChoice
              name="tokenScope"
              value="all"
              checked={scope === "all"}
              onChange={() => setScope("all")}
              label="All of my permissions"
              description={`Everything you hold${me.access.isGlobalAdmin ? ", administrator rights included" : ""}, now and as your roles change.`}
              testId="token-scope-all"
            />
            <p className="text-xs text-zinc-500">Either way, a token cannot manage accounts: no tokens, sessions or passwords.</p>
          </fieldset>
          {create.error ? <FormError>{errorMessage(create.error)}</FormError> : null}
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={close}>
              Cancel
            </Button>
            <Button size="sm" type="submit" variant="primary" loading={create.isPending} disabled={scope === null || (scope === "some" && permissions.length === 0)} data-testid="token-submit">
              Create token
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}

/** One option of the token's scope (a radio: exactly one of the two must be picked). */
function ScopeChoice(props: { name: string; value: string; checked: boolean; onChange: () => void; label: string; description: string; testId: string }) {
  return (
    <label className="flex cursor-pointer items-start gap-2.5 text-[13px] text-zinc-200">
      <input
        type="radio"
        name={props.name}
        value={props.value}
        checked={props.checked}
        onChange={props.onChange}
        required
        className="mt-0.5 size-3.5 shrink-0 accent-sky-500"
        data-testid={props.testId}
      />
      <span className="min-w-0">
        <span className="block leading-snug">{props.label}</span>
        <span className="block text-xs text-zinc-500">{props.description}</span>
      </span>
    </label>
  );
}
