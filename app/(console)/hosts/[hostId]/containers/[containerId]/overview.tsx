"use client";

import { ExternalLink } from "lucide-react";
import type { ReactNode } from "react";
import { looksSecretKey, MASK } from "../../../../../../agent/redaction";
import { Section } from "../../../../../_components/ui";
import { containerStatus, formatDateTime, parsePorts, type PortMapping } from "../../../../../_lib/format";
import type { Host } from "../../../../../_lib/trpc";
import { useNow } from "../../../../../_lib/use-now";
import type { ContainerDetail } from "./types";

type Inspect = {
  Config?: { Env?: string[] | null; Labels?: Record<string, string> | null; Cmd?: string[] | null; Entrypoint?: string[] | null; User?: string; WorkingDir?: string; Hostname?: string };
  HostConfig?: { RestartPolicy?: { Name?: string; MaximumRetryCount?: number }; Memory?: number; NanoCpus?: number; NetworkMode?: string };
  Mounts?: Array<{ Type?: string; Name?: string; Source?: string; Destination?: string; Mode?: string; RW?: boolean }> | null;
  NetworkSettings?: { Networks?: Record<string, { IPAddress?: string; Gateway?: string; MacAddress?: string; Aliases?: string[] | null }> | null };
};

export function inspectOf(container: ContainerDetail): Inspect {
  return (container.inspect ?? {}) as Inspect;
}

/**
 * A port as a link a browser can open: the address Docker bound, or (bound on
 * every address) the host's name as Docker reports it, else the name this page
 * was served from (an agent on Berth's own machine).
 */
export function portHref(port: PortMapping, host: Pick<Host, "hostname">): string | null {
  if (!port.publicPort) return null;
  const bound = port.ip && port.ip !== "0.0.0.0" && port.ip !== "::" ? port.ip : null;
  const address = bound ?? host.hostname ?? (typeof window !== "undefined" ? window.location.hostname : "localhost");
  const literal = address.includes(":") ? `[${address}]` : address;
  return `http://${literal}:${port.publicPort}`;
}

/** Secret-looking label values masked with the agent's rules (env values already are, in the stored inspect). */
export function maskedLabels(labels: Record<string, string>): Array<[string, string]> {
  return Object.entries(labels)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => [key, looksSecretKey(key) ? MASK : value]);
}

function Fact({ label, children, testId }: { label: string; children: ReactNode; testId?: string }) {
  return (
    <div className="min-w-0">
      <dt className="text-[11px] tracking-wide text-zinc-500 uppercase">{label}</dt>
      <dd className="mt-0.5 truncate text-sm text-zinc-100" data-testid={testId}>
        {children}
      </dd>
    </div>
  );
}

function KeyValues({ rows, testId, empty }: { rows: Array<[string, string]>; testId: string; empty: string }) {
  if (rows.length === 0) return <p className="text-xs text-zinc-500">{empty}</p>;
  return (
    <dl className="grid grid-cols-[minmax(8rem,max-content)_1fr] gap-x-4 gap-y-1 font-mono text-xs" data-testid={testId}>
      {rows.map(([k, v], i) => (
        <div key={`${k}-${i}`} className="contents">
          <dt className="truncate text-zinc-400" title={k}>
            {k}
          </dt>
          <dd className={v === MASK ? "text-amber-300/80" : "break-all text-zinc-200"}>{v}</dd>
        </div>
      ))}
    </dl>
  );
}

export function Overview({ container: c, host }: { container: ContainerDetail; host: Host }) {
  const now = useNow();
  const inspect = inspectOf(c);
  const ports = parsePorts(c.ports);
  const env = (inspect.Config?.Env ?? []).map((line): [string, string] => {
    const at = line.indexOf("=");
    return at < 0 ? [line, ""] : [line.slice(0, at), line.slice(at + 1)];
  });
  const labels = maskedLabels((inspect.Config?.Labels ?? (c.labels as Record<string, string>)) ?? {});
  const mounts = inspect.Mounts ?? [];
  const networks = Object.entries(inspect.NetworkSettings?.Networks ?? {});
  const restart = inspect.HostConfig?.RestartPolicy;

  return (
    <div className="flex flex-col gap-4">
      <dl className="grid grid-cols-2 gap-4 rounded-lg border border-zinc-800 bg-zinc-900/40 p-4 sm:grid-cols-3 lg:grid-cols-6" data-testid="container-facts">
        <Fact label="State" testId="fact-state">
          {c.state}
        </Fact>
        <Fact label="Health" testId="fact-health">
          {c.health ?? <span className="text-zinc-500">no healthcheck</span>}
        </Fact>
        <Fact label="Uptime" testId="fact-uptime">
          {containerStatus(c, now)}
        </Fact>
        <Fact label="Restarts" testId="fact-restarts">
          {c.restartCount}
          {restart?.Name && restart.Name !== "no" ? <span className="ml-1 text-xs text-zinc-500">({restart.Name})</span> : null}
        </Fact>
        <Fact label="Last exit code" testId="fact-exit-code">
          {c.state === "running" && !c.finishedAt ? <span className="text-zinc-500">—</span> : (c.exitCode ?? "—")}
        </Fact>
        <Fact label="OOM killed" testId="fact-oom">
          {c.oomKilled ? <span className="text-red-400">yes</span> : "no"}
        </Fact>
        <Fact label="Created">{formatDateTime(c.createdAt)}</Fact>
        <Fact label="Started">{formatDateTime(c.startedAt)}</Fact>
        <Fact label="Finished">{formatDateTime(c.finishedAt)}</Fact>
        <Fact label="Command">
          <span className="font-mono text-xs" title={c.command}>
            {c.command || "—"}
          </span>
        </Fact>
        <Fact label="User">{inspect.Config?.User || "root (image default)"}</Fact>
        <Fact label="Workdir">{inspect.Config?.WorkingDir || "/"}</Fact>
      </dl>

      <div className="grid gap-4 lg:grid-cols-2">
        <Section title="Ports" testId="container-ports">
          {ports.length === 0 ? (
            <p className="text-xs text-zinc-500">No ports exposed.</p>
          ) : (
            <ul className="flex flex-col gap-1 font-mono text-xs">
              {ports.map((p, i) => {
                const href = portHref(p, host);
                return (
                  <li key={i} className="flex items-center gap-2">
                    {href ? (
                      <a href={href} target="_blank" rel="noreferrer noopener" className="inline-flex items-center gap-1 text-sky-300 hover:underline" data-testid="port-link">
                        {href.replace("http://", "")}
                        <ExternalLink className="size-3" aria-hidden />
                      </a>
                    ) : (
                      <span className="text-zinc-500">not published</span>
                    )}
                    <span className="text-zinc-400">
                      → {p.privatePort}/{p.type}
                    </span>
                  </li>
                );
              })}
            </ul>
          )}
        </Section>

        <Section title="Networks" testId="container-networks">
          {networks.length === 0 ? (
            <p className="text-xs text-zinc-500">{inspect.HostConfig?.NetworkMode ? `Network mode: ${inspect.HostConfig.NetworkMode}` : "No networks."}</p>
          ) : (
            <ul className="flex flex-col gap-1.5 text-xs">
              {networks.map(([name, n]) => (
                <li key={name}>
                  <span className="font-medium text-zinc-100">{name}</span>
                  <span className="ml-2 font-mono text-zinc-400">{n.IPAddress || "no address"}</span>
                  {n.Aliases?.length ? <span className="ml-2 text-zinc-500">aliases: {n.Aliases.join(", ")}</span> : null}
                </li>
              ))}
            </ul>
          )}
        </Section>

        <Section title="Mounts" testId="container-mounts">
          {mounts.length === 0 ? (
            <p className="text-xs text-zinc-500">No volumes or bind mounts: everything it writes goes to its writable layer.</p>
          ) : (
            <ul className="flex flex-col gap-1 font-mono text-xs">
              {mounts.map((m, i) => (
                <li key={i} className="break-all">
                  <span className="text-zinc-500">{m.Type}</span> <span className="text-zinc-200">{m.Name ?? m.Source}</span>
                  <span className="text-zinc-500"> → </span>
                  <span className="text-zinc-100">{m.Destination}</span>
                  {m.RW === false ? <span className="ml-1 text-amber-300">(read-only)</span> : null}
                </li>
              ))}
            </ul>
          )}
        </Section>

        <Section title="Labels" testId="container-labels">
          <KeyValues rows={labels} testId="labels-list" empty="No labels." />
        </Section>

        <div className="lg:col-span-2">
          <Section title="Environment" description="Values are masked before they leave the host." testId="container-env">
            <KeyValues rows={env} testId="env-list" empty="No environment variables." />
          </Section>
        </div>
      </div>
    </div>
  );
}
