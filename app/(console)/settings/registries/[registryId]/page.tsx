"use client";

import { useQuery } from "@tanstack/react-query";
import { ArrowLeft, Layers, Package, Tag } from "lucide-react";
import Link from "next/link";
import { useParams } from "next/navigation";
import { useState, type ReactNode } from "react";
import { Code, FormError, PageHeader, Section, Spinner } from "../../../../_components/ui";
import { cx } from "../../../../_lib/cx";
import { formatBytes, formatDateTime } from "../../../../_lib/format";
import { errorMessage, useTRPC, type RouterOutputs } from "../../../../_lib/trpc";
import { useDocumentTitle } from "../../../../_lib/use-document-title";

type Manifest = RouterOutputs["registries"]["manifest"];

/** Browse a registry: repositories → tags → the manifest (layers and their sizes). */
export default function RegistryBrowsePage() {
  const { registryId } = useParams<{ registryId: string }>();
  const trpc = useTRPC();
  const registry = useQuery(trpc.registries.byId.queryOptions({ registryId }));
  const [repository, setRepository] = useState<string | null>(null);
  const [tag, setTag] = useState<string | null>(null);
  const repositories = useQuery({ ...trpc.registries.repositories.queryOptions({ registryId, limit: 500 }), retry: false });
  const tags = useQuery({ ...trpc.registries.tags.queryOptions({ registryId, repository: repository ?? "", limit: 500 }), enabled: repository !== null, retry: false });
  const manifest = useQuery({
    ...trpc.registries.manifest.queryOptions({ registryId, repository: repository ?? "", reference: tag ?? "" }),
    enabled: repository !== null && tag !== null,
    retry: false,
  });
  useDocumentTitle(registry.data ? `${registry.data.name} · Registries` : "Registry");

  return (
    <div className="flex flex-col gap-5">
      <PageHeader
        title={registry.data?.name ?? "Registry"}
        description={registry.data ? <Code>{registry.data.url}</Code> : registry.isError ? errorMessage(registry.error) : undefined}
        actions={
          <Link href="/settings/registries" className="flex items-center gap-1.5 text-xs text-zinc-400 hover:text-zinc-200">
            <ArrowLeft className="size-3.5" /> All registries
          </Link>
        }
      />
      <div className="grid gap-4 lg:grid-cols-[1fr_1fr_2fr]">
        <Section title="Repositories" flush testId="registry-repositories">
          <List
            query={repositories}
            items={repositories.data?.repositories}
            empty="This registry holds no repositories."
            selected={repository}
            icon={<Package className="size-3.5 text-zinc-500" aria-hidden />}
            testPrefix="repository"
            onSelect={(name) => {
              setRepository(name);
              setTag(null);
            }}
          />
        </Section>
        <Section title={repository ? `Tags of ${repository}` : "Tags"} flush testId="registry-tags">
          {repository === null ? (
            <p className="px-4 py-3 text-xs text-zinc-500">Pick a repository.</p>
          ) : (
            <List query={tags} items={tags.data?.tags} empty="No tags." selected={tag} icon={<Tag className="size-3.5 text-zinc-500" aria-hidden />} testPrefix="tag" onSelect={setTag} />
          )}
        </Section>
        <Section title={repository && tag ? `${repository}:${tag}` : "Manifest"} testId="registry-manifest">
          {repository === null || tag === null ? (
            <p className="text-xs text-zinc-500">Pick a tag to see its layers.</p>
          ) : manifest.isPending ? (
            <Spinner className="size-4" />
          ) : manifest.isError ? (
            <FormError>{errorMessage(manifest.error)}</FormError>
          ) : (
            <ManifestView manifest={manifest.data} />
          )}
        </Section>
      </div>
    </div>
  );
}

function List({
  query,
  items,
  empty,
  selected,
  icon,
  testPrefix,
  onSelect,
}: {
  query: { isPending: boolean; isError: boolean; error: unknown };
  items: string[] | undefined;
  empty: string;
  selected: string | null;
  icon: ReactNode;
  testPrefix: string;
  onSelect: (value: string) => void;
}) {
  if (query.isPending) return <Spinner className="m-4 size-4" />;
  if (query.isError)
    return (
      <div className="p-3">
        <FormError>{errorMessage(query.error)}</FormError>
      </div>
    );
  if (!items?.length) return <p className="px-4 py-3 text-xs text-zinc-500">{empty}</p>;
  return (
    <ul className="max-h-[28rem] divide-y divide-zinc-800/70 overflow-y-auto">
      {items.map((item) => (
        <li key={item}>
          <button
            type="button"
            data-testid={`${testPrefix}-${item}`}
            aria-current={item === selected ? "true" : undefined}
            onClick={() => onSelect(item)}
            className={cx(
              "flex w-full items-center gap-2 px-4 py-2 text-left font-mono text-xs transition-colors",
              item === selected ? "bg-sky-500/10 text-sky-200" : "text-zinc-300 hover:bg-zinc-800/40",
            )}
          >
            {icon}
            <span className="truncate">{item}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}

function ManifestView({ manifest }: { manifest: Manifest }) {
  const largest = Math.max(1, ...manifest.layers.map((l) => l.size));
  return (
    <div className="flex flex-col gap-4 text-xs" data-testid="manifest-view">
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1.5">
        <dt className="text-zinc-500">Digest</dt>
        <dd className="font-mono break-all text-zinc-200" data-testid="manifest-digest">
          {manifest.digest}
        </dd>
        <dt className="text-zinc-500">Type</dt>
        <dd className="font-mono text-zinc-300">{manifest.mediaType}</dd>
        {manifest.os ? (
          <>
            <dt className="text-zinc-500">Platform</dt>
            <dd className="text-zinc-300">
              {manifest.os}/{manifest.architecture}
            </dd>
          </>
        ) : null}
        {manifest.created ? (
          <>
            <dt className="text-zinc-500">Created</dt>
            <dd className="text-zinc-300">{formatDateTime(new Date(manifest.created))}</dd>
          </>
        ) : null}
        {manifest.kind === "image" ? (
          <>
            <dt className="text-zinc-500">Download size</dt>
            <dd className="text-zinc-300" data-testid="manifest-total">
              {formatBytes(manifest.totalSize)} in {manifest.layers.length} layer{manifest.layers.length === 1 ? "" : "s"} (compressed)
            </dd>
          </>
        ) : null}
      </dl>
      {manifest.kind === "index" ? (
        <div>
          <h3 className="mb-2 font-medium text-zinc-300">Platforms</h3>
          <ul className="flex flex-col gap-1">
            {manifest.manifests.map((m) => (
              <li key={m.digest} className="flex justify-between gap-3 font-mono text-zinc-400">
                <span>{m.platform ?? "unknown"}</span>
                <span className="truncate">{m.digest}</span>
              </li>
            ))}
          </ul>
        </div>
      ) : (
        <div>
          <h3 className="mb-2 flex items-center gap-1.5 font-medium text-zinc-300">
            <Layers className="size-3.5" aria-hidden /> Layers, bottom first
          </h3>
          <ol className="flex flex-col gap-1.5" data-testid="manifest-layers">
            {manifest.layers.map((layer, index) => (
              <li key={`${layer.digest}-${index}`} data-testid="manifest-layer" className="grid grid-cols-[2rem_1fr_5rem] items-center gap-2">
                <span className="text-right text-zinc-500 tabular-nums">{index + 1}</span>
                <div className="min-w-0">
                  <div className="truncate font-mono text-zinc-300" title={layer.digest}>
                    {layer.digest}
                  </div>
                  <div className="mt-0.5 h-1.5 rounded-full bg-zinc-800">
                    <div className="h-1.5 rounded-full bg-sky-500/70" style={{ width: `${Math.max(2, (layer.size / largest) * 100)}%` }} />
                  </div>
                </div>
                <span className="text-right text-zinc-400 tabular-nums">{formatBytes(layer.size)}</span>
              </li>
            ))}
          </ol>
        </div>
      )}
    </div>
  );
}
