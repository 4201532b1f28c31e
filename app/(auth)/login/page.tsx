"use client";

import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";
import { useEffect, useState, type FormEvent } from "react";
import { authClient } from "../../_lib/auth-client";
import { errorMessage, useTRPC } from "../../_lib/trpc";
import { useDocumentTitle } from "../../_lib/use-document-title";
import { AddressNotice, explainOriginError } from "../../_components/address-notice";
import { Button, Field, FormError, Spinner } from "../../_components/ui";

export default function LoginPage() {
  const trpc = useTRPC();
  const router = useRouter();
  const queryClient = useQueryClient();
  const status = useQuery(trpc.auth.setupStatus.queryOptions());
  const me = useQuery(trpc.auth.me.queryOptions(undefined, { enabled: status.data?.needsSetup === false }));
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useDocumentTitle("Sign in");

  const needsSetup = status.data?.needsSetup === true;
  const signedIn = Boolean(me.data);
  useEffect(() => {
    if (needsSetup) router.replace("/setup");
    else if (signedIn) router.replace("/");
  }, [needsSetup, signedIn, router]);

  async function onSubmit(event: FormEvent) {
    event.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const result = await authClient.signIn.email({ email: email.trim(), password });
      if (result.error) throw new Error(result.error.message ?? "Sign-in failed");
      queryClient.clear();
      router.replace("/");
    } catch (e) {
      setError(explainOriginError(errorMessage(e), status.data?.publicOrigin));
      setBusy(false);
    }
  }

  if (status.isPending || needsSetup || signedIn) {
    return (
      <div className="flex justify-center py-8 text-zinc-500">
        <Spinner />
      </div>
    );
  }

  return (
    <form onSubmit={onSubmit} className="flex flex-col gap-4" data-testid="login-form">
      <div>
        <h1 className="text-base font-semibold text-zinc-100">Sign in</h1>
        <p className="mt-1 text-xs text-zinc-400">Use the account an admin created for you.</p>
      </div>
      {status.data ? <AddressNotice publicOrigin={status.data.publicOrigin} /> : null}
      <Field label="Email" name="email" type="email" autoComplete="email" required value={email} onChange={(e) => setEmail(e.target.value)} autoFocus />
      <Field
        label="Password"
        name="password"
        type="password"
        autoComplete="current-password"
        required
        value={password}
        onChange={(e) => setPassword(e.target.value)}
      />
      {error ? <FormError>{error}</FormError> : null}
      <Button type="submit" variant="primary" loading={busy} className="mt-1 w-full">
        Sign in
      </Button>
    </form>
  );
}
