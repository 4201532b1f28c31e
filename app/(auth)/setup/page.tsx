"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Terminal } from "lucide-react";
import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";
import { authClient } from "../../_lib/auth-client";
import { errorMessage, useTRPC } from "../../_lib/trpc";
import { useDocumentTitle } from "../../_lib/use-document-title";
import { AddressNotice, explainOriginError } from "../../_components/address-notice";
import { Button, Field, FormError, Spinner } from "../../_components/ui";

const MIN_PASSWORD = 12;

export default function SetupPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const status = useQuery(trpc.auth.setupStatus.queryOptions());
  const setup = useMutation(trpc.auth.setup.mutationOptions());
  const [form, setForm] = useState({ code: "", name: "", email: "", password: "" });
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useDocumentTitle("Set up");

  const alreadySetUp = status.data?.needsSetup === false;
  useEffect(() => {
    if (alreadySetUp && !busy) router.replace("/login");
  }, [alreadySetUp, busy, router]);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    if (form.password.length < MIN_PASSWORD) {
      setError(`The password needs at least ${MIN_PASSWORD} characters.`);
      return;
    }
    setBusy(true);
    try {
      await setup.mutateAsync(form);
      const signIn = await authClient.signIn.email({ email: form.email.trim(), password: form.password });
      if (signIn.error) throw new Error(signIn.error.message ?? "The account was created, but signing in failed. Sign in instead.");
      queryClient.clear();
      router.replace("/");
    } catch (e) {
      setError(explainOriginError(errorMessage(e), status.data?.publicOrigin));
      setBusy(false);
    }
  }

  if (status.isPending || alreadySetUp) {
    return (
      <div className="flex justify-center py-8 text-zinc-500">
        <Spinner />
      </div>
    );
  }

  const set = (key: keyof typeof form) => (e: { target: { value: string } }) => setForm((f) => ({ ...f, [key]: e.target.value }));

  return (
    <form onSubmit={onSubmit} className="flex flex-col gap-4" data-testid="setup-form">
      <div>
        <h1 className="text-base font-semibold text-zinc-100">Set up Berth</h1>
        <p className="mt-1 text-xs leading-relaxed text-zinc-400">Create the first admin account. Everyone else is invited by an admin later.</p>
      </div>
      {status.data ? <AddressNotice publicOrigin={status.data.publicOrigin} /> : null}
      <div className="flex gap-2.5 rounded-md border border-zinc-800 bg-zinc-950/60 px-3 py-2.5 text-xs leading-relaxed text-zinc-400">
        <Terminal className="mt-0.5 size-3.5 shrink-0 text-sky-400" aria-hidden />
        <p>
          The one-time <span className="font-medium text-zinc-200">setup code</span> is printed in the Berth server&apos;s log when it starts (for
          example <span className="font-mono text-zinc-300">ABCD-EFGH-JKLM</span>). Only someone who can read that log can claim admin.
        </p>
      </div>
      <Field
        label="Setup code"
        name="code"
        autoComplete="one-time-code"
        spellCheck={false}
        required
        value={form.code}
        onChange={set("code")}
        className="[&_input]:font-mono [&_input]:tracking-wider [&_input]:uppercase"
        placeholder="XXXX-XXXX-XXXX"
        autoFocus
      />
      <Field label="Name" name="name" autoComplete="name" required value={form.name} onChange={set("name")} placeholder="Ada Lovelace" />
      <Field label="Email" name="email" type="email" autoComplete="email" required value={form.email} onChange={set("email")} placeholder="ada@example.com" />
      <Field
        label="Password"
        name="password"
        type="password"
        autoComplete="new-password"
        required
        minLength={MIN_PASSWORD}
        value={form.password}
        onChange={set("password")}
        hint={`At least ${MIN_PASSWORD} characters.`}
      />
      {error ? <FormError>{error}</FormError> : null}
      <Button type="submit" variant="primary" loading={busy} className="mt-1 w-full">
        Create admin account
      </Button>
    </form>
  );
}
