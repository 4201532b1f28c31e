"use client";

/**
 * New container (or "edit & recreate" one) on a host: a form with everything
 * `docker run` takes, a "paste a docker run line" box that fills it, checks
 * before anything is sent (the same zod schema the server and agent use), and
 * Docker's own error text when Docker refuses.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ArrowLeft, ClipboardPaste, ShieldAlert } from "lucide-react";
import Link from "next/link";
import { useParams, useRouter, useSearchParams } from "next/navigation";
import { Suspense, useEffect, useId, useMemo, useState, type ComponentProps, type ReactNode } from "react";
import { useToasts } from "../../../../_components/toasts";
import { Button, Checkbox, Field, FormError, PageHeader, Section, SelectField, Spinner, cx } from "../../../../_components/ui";
import { canOnHost } from "../../../../_lib/access";
import { EMPTY_FORM, formFromSpec, specFromForm, type CreateForm } from "../../../../_lib/docker-run/form";
import { DockerRunParseError, parseDockerRun } from "../../../../_lib/docker-run/parse";
import { useSessionUser } from "../../../../_lib/session";
import { errorMessage, useTRPC } from "../../../../_lib/trpc";
import { useDocumentTitle } from "../../../../_lib/use-document-title";

function TextArea({ label, hint, className, id, ...rest }: ComponentProps<"textarea"> & { label: string; hint?: ReactNode }) {
  const autoId = useId();
  const areaId = id ?? autoId;
  return (
    <div className={cx("flex flex-col gap-1.5", className)}>
      <label htmlFor={areaId} className="text-xs font-medium text-zinc-300">
        {label}
      </label>
      <textarea
        id={areaId}
        rows={3}
        spellCheck={false}
        className="w-full rounded-md border border-zinc-700 bg-zinc-900 px-3 py-2 font-mono text-xs text-zinc-100 placeholder:text-zinc-600 outline-none focus:border-sky-500 focus:ring-2 focus:ring-sky-500/25"
        {...rest}
      />
      {hint ? <p className="text-xs text-zinc-500">{hint}</p> : null}
    </div>
  );
}

export default function ContainerCreatePage() {
  return (
    <Suspense fallback={<Spinner />}>
      <ContainerCreate />
    </Suspense>
  );
}

function ContainerCreate() {
  const { hostId } = useParams<{ hostId: string }>();
  const search = useSearchParams();
  const from = search.get("mode") === "recreate" ? search.get("from") : null;
  const trpc = useTRPC();
  const router = useRouter();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const user = useSessionUser();
  const host = useQuery(trpc.hosts.byId.queryOptions({ hostId }));
  const images = useQuery(trpc.images.list.queryOptions({ hostId }));
  const existing = useQuery({ ...trpc.containers.spec.queryOptions({ hostId, containerId: from ?? "x".repeat(12) }), enabled: from !== null, staleTime: Infinity });
  const [form, setForm] = useState<CreateForm>(EMPTY_FORM);
  const [line, setLine] = useState("");
  const [lineError, setLineError] = useState<string | null>(null);
  const [touched, setTouched] = useState(false);
  const canPrivileged = canOnHost(user, hostId, "container.privileged");
  useDocumentTitle(from ? "Edit & recreate" : "New container");

  useEffect(() => {
    if (existing.data) setForm(formFromSpec(existing.data.spec));
  }, [existing.data]);

  const result = useMemo(() => specFromForm(form), [form]);
  const set = <K extends keyof CreateForm>(key: K) => (value: CreateForm[K]) => {
    setTouched(true);
    setForm((f) => ({ ...f, [key]: value }));
  };
  const text = (key: keyof CreateForm) => ({
    value: form[key] as string,
    onChange: (e: { target: { value: string } }) => set(key)(e.target.value as never),
    name: key,
  });
  const check = (key: keyof CreateForm) => ({
    checked: form[key] as boolean,
    onChange: (e: { target: { checked: boolean } }) => set(key)(e.target.checked as never),
    name: key,
  });

  const done = (verb: string) => () => {
    toasts.success(`${verb} ${form.name || "the container"}`);
    void queryClient.invalidateQueries(trpc.containers.list.queryFilter({ hostId }));
    router.push(`/hosts/${encodeURIComponent(hostId)}`);
  };
  const create = useMutation(trpc.containers.create.mutationOptions({ onSuccess: done("Created") }));
  const recreate = useMutation(trpc.containers.recreate.mutationOptions({ onSuccess: done("Recreated") }));
  const mutation = from ? recreate : create;

  const fillFromLine = () => {
    try {
      setForm(formFromSpec(parseDockerRun(line)));
      setLineError(null);
      setTouched(true);
    } catch (error) {
      setLineError(error instanceof DockerRunParseError ? error.message : String(error));
    }
  };

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (!result.ok) return;
    if (from) recreate.mutate({ hostId, containerId: from, spec: result.spec });
    else create.mutate({ hostId, spec: result.spec });
  };

  const tags = (images.data ?? []).flatMap((i) => i.repoTags.filter((t) => t !== "<none>:<none>")).sort();
  const rootOptions = form.privileged || form.capAdd.trim() || form.devices.trim() || form.hostNetwork || form.hostPid || form.hostIpc;

  return (
    <form className="flex flex-col gap-5" onSubmit={submit} data-testid="create-form" noValidate>
      <Link href={`/hosts/${encodeURIComponent(hostId)}`} className="inline-flex w-fit items-center gap-1.5 text-xs text-zinc-500 hover:text-zinc-300">
        <ArrowLeft className="size-3.5" aria-hidden />
        {host.data?.name ?? "Host"}
      </Link>
      <PageHeader
        title={from ? `Edit & recreate ${existing.data?.name ?? ""}` : "New container"}
        description={
          from
            ? "The old container is renamed aside until the new one runs; if the new one fails, the old one comes back. Masked values ([redacted]) are kept as they are."
            : `On ${host.data?.name ?? "this host"}. Everything docker run does; paste a line to start from it.`
        }
      />
      {from && existing.isPending ? <Spinner /> : null}
      {existing.error ? <FormError>{errorMessage(existing.error)}</FormError> : null}

      <Section title="Paste a docker run line" description="Fills the form below; nothing is created until you press Create.">
        <div className="flex flex-col gap-2">
          <TextArea label="docker run …" value={line} onChange={(e) => setLine(e.target.value)} placeholder="docker run -d --name web -p 8080:80 -e TZ=UTC nginx:1.27" data-testid="paste-line" />
          {lineError ? <FormError>{lineError}</FormError> : null}
          <div>
            <Button size="sm" icon={<ClipboardPaste className="size-3.5" />} onClick={fillFromLine} data-testid="fill-from-line" disabled={!line.trim()}>
              Fill the form
            </Button>
          </div>
        </div>
      </Section>

      <Section title="Image and command">
        <div className="grid gap-3 sm:grid-cols-2">
          <div className="flex flex-col gap-1.5">
            <Field label="Image" list="host-images" placeholder="repository:tag" {...text("image")} data-testid="field-image" />
            <datalist id="host-images">
              {tags.map((t) => (
                <option key={t} value={t} />
              ))}
            </datalist>
          </div>
          <SelectField label="…or pick one of this host's images" value="" onChange={(e) => e.target.value && set("image")(e.target.value)} data-testid="image-picker">
            <option value="">{images.isPending ? "Loading…" : `${tags.length} tagged images`}</option>
            {tags.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </SelectField>
          <Field label="Name" placeholder="(Docker picks one)" {...text("name")} disabled={from !== null} data-testid="field-name" />
          <Field label="Command" placeholder="(the image's)" hint="Shell quoting works: sh -c 'echo hi'" {...text("command")} data-testid="field-command" />
          <Field label="Entrypoint" placeholder="(the image's)" {...text("entrypoint")} />
          <Field label="User (-u)" placeholder="uid[:gid] or name" {...text("user")} />
          <Field label="Working directory (-w)" placeholder="/app" {...text("workdir")} />
          <div className="flex flex-wrap items-end gap-4 pb-1">
            <Checkbox label="Interactive (-i)" {...check("interactive")} />
            <Checkbox label="TTY (-t)" {...check("tty")} />
            <Checkbox label="Init (--init)" {...check("init")} />
          </div>
        </div>
      </Section>

      <Section title="Environment and labels">
        <div className="grid gap-3 sm:grid-cols-2">
          <TextArea label="Environment (-e)" hint="NAME=value per line; paste a .env file as is" placeholder={"TZ=UTC\nLOG_LEVEL=info"} {...text("env")} data-testid="field-env" />
          <TextArea label="Labels (-l)" hint="key=value per line" {...text("labels")} />
        </div>
      </Section>

      <Section title="Ports and storage">
        <div className="grid gap-3 sm:grid-cols-2">
          <TextArea label="Ports (-p)" hint="[ip:][hostPort:]containerPort[/udp] per line; ranges 8000-8010:80-90; no host port = random" placeholder={"8080:80\n127.0.0.1::5432"} {...text("ports")} data-testid="field-ports" />
          <div className="flex flex-col gap-3">
            <TextArea label="Volumes (-v)" hint="volume:/path, /host/path:/path[:ro], or /path for an anonymous one" placeholder="data:/var/lib/app" {...text("volumes")} data-testid="field-volumes" />
            <Checkbox label="Publish all exposed ports (-P)" {...check("publishAll")} />
          </div>
          <TextArea label="Mounts (--mount)" hint="type=volume|bind|tmpfs,source=…,target=…[,readonly] per line" {...text("mounts")} />
          <Field
            label="Host paths allowed for bind mounts"
            readOnly
            value={host.data?.allowedBindPaths.length ? host.data.allowedBindPaths.join(", ") : "none (named volumes only)"}
            hint="Set per host by a host manager, on the host's page."
          />
        </div>
      </Section>

      <Section title="Runtime">
        <div className="grid gap-3 sm:grid-cols-3">
          <SelectField label="Restart policy" value={form.restart} onChange={(e) => set("restart")(e.target.value as CreateForm["restart"])}>
            <option value="no">no</option>
            <option value="always">always</option>
            <option value="unless-stopped">unless-stopped</option>
            <option value="on-failure">on-failure</option>
          </SelectField>
          <Field label="Max retries (on-failure)" inputMode="numeric" {...text("restartRetries")} disabled={form.restart !== "on-failure"} />
          <Field label="Memory limit (-m)" placeholder="e.g. 256m, 1g" {...text("memory")} />
          <Field label="CPUs (--cpus)" placeholder="e.g. 0.5" inputMode="decimal" {...text("cpus")} />
          <Field label="Stop signal" placeholder="SIGTERM" {...text("stopSignal")} />
          <Field label="Stop timeout (s)" inputMode="numeric" {...text("stopTimeout")} />
        </div>
      </Section>

      <Section title="Network">
        <div className="grid gap-3 sm:grid-cols-2">
          <TextArea label="Networks (--network, --network-alias)" hint="one network per line, aliases after it: mynet web www" {...text("networks")} />
          <TextArea label="Extra hosts (--add-host)" hint="name:ip per line" {...text("extraHosts")} />
          <Field label="Hostname (-h)" {...text("hostname")} />
          <Field label="DNS servers (--dns)" placeholder="1.1.1.1, 8.8.8.8" {...text("dns")} />
        </div>
      </Section>

      <Section title="Healthcheck and logging">
        <div className="grid gap-3 sm:grid-cols-4">
          <Field label="Health command" placeholder="curl -f http://localhost/ || exit 1" className="sm:col-span-2" {...text("healthCmd")} />
          <Field label="Interval" placeholder="30s" {...text("healthInterval")} />
          <Field label="Timeout" placeholder="5s" {...text("healthTimeout")} />
          <Field label="Retries" inputMode="numeric" {...text("healthRetries")} />
          <Field label="Log driver" placeholder="json-file" {...text("logDriver")} />
          <TextArea label="Log options (--log-opt)" hint="key=value per line" className="sm:col-span-2" {...text("logOptions")} />
        </div>
      </Section>

      <Section
        title={
          <span className="inline-flex items-center gap-1.5">
            <ShieldAlert className="size-4 text-amber-400" aria-hidden /> Root-equivalent options
          </span>
        }
        description={canPrivileged ? "Each of these gives the container power over the host." : 'These need the "container.privileged" permission, which you do not hold on this host.'}
      >
        <div className="grid gap-3 sm:grid-cols-2">
          <div className="flex flex-col gap-2">
            <Checkbox label="Privileged (--privileged)" {...check("privileged")} disabled={!canPrivileged && !form.privileged} />
            <Checkbox label="Host network (--network host)" {...check("hostNetwork")} disabled={!canPrivileged && !form.hostNetwork} />
            <Checkbox label="Host PID namespace (--pid host)" {...check("hostPid")} disabled={!canPrivileged && !form.hostPid} />
            <Checkbox label="Host IPC namespace (--ipc host)" {...check("hostIpc")} disabled={!canPrivileged && !form.hostIpc} />
          </div>
          <div className="flex flex-col gap-3">
            <Field label="Add capabilities (--cap-add)" placeholder="NET_ADMIN, SYS_TIME" {...text("capAdd")} disabled={!canPrivileged && !form.capAdd} />
            <TextArea label="Devices (--device)" hint="/dev/host[:/dev/container[:rwm]] per line" {...text("devices")} disabled={!canPrivileged && !form.devices} />
          </div>
        </div>
        {rootOptions && !canPrivileged ? <p className="mt-3 text-xs text-amber-300">The server will refuse these options for you.</p> : null}
      </Section>

      <div className="flex flex-wrap items-center gap-4">
        <Checkbox label="Start it after creating" {...check("start")} disabled={from !== null} />
        <Checkbox label="Remove it when it exits (--rm)" {...check("autoRemove")} />
      </div>

      {touched && !result.ok ? (
        <div role="alert" data-testid="form-validation" className="rounded-md border border-amber-500/30 bg-amber-500/10 px-3 py-2 text-xs text-amber-200">
          <p className="mb-1 font-medium">Fix these first:</p>
          <ul className="list-disc pl-4">
            {result.errors.map((e) => (
              <li key={e}>{e}</li>
            ))}
          </ul>
        </div>
      ) : null}
      {mutation.error ? <FormError>{errorMessage(mutation.error)}</FormError> : null}

      <div className="flex gap-2">
        <Button type="submit" variant="primary" loading={mutation.isPending} disabled={mutation.isPending || (touched && !result.ok)} data-testid="create-submit">
          {from ? "Recreate" : "Create"}
        </Button>
        <Link href={`/hosts/${encodeURIComponent(hostId)}`} className="inline-flex items-center px-3 text-sm text-zinc-400 hover:text-zinc-200">
          Cancel
        </Link>
      </div>
    </form>
  );
}
