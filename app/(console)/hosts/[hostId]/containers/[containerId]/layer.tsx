"use client";

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { GitCommitHorizontal, RefreshCw } from "lucide-react";
import Link from "next/link";
import { useMemo, useState, type FormEvent } from "react";
import { useToasts } from "../../../../../_components/toasts";
import { Button, Checkbox, Field, FormError, Section, Spinner } from "../../../../../_components/ui";
import { cx } from "../../../../../_lib/cx";
import { formatBytes } from "../../../../../_lib/format";
import { errorMessage, useTRPC, type RouterOutputs } from "../../../../../_lib/trpc";

type Change = RouterOutputs["containers"]["changes"]["changes"][number];
type TreeNode = { name: string; path: string; kind: Change["kind"] | null; children: Map<string, TreeNode> };

/** Docker's flat list of paths as a tree; directories Docker did not list themselves carry no kind. */
export function buildTree(changes: Change[]): TreeNode {
  const root: TreeNode = { name: "/", path: "/", kind: null, children: new Map() };
  for (const change of changes) {
    let node = root;
    const parts = change.path.split("/").filter(Boolean);
    parts.forEach((part, i) => {
      let child = node.children.get(part);
      if (!child) {
        child = { name: part, path: `/${parts.slice(0, i + 1).join("/")}`, kind: null, children: new Map() };
        node.children.set(part, child);
      }
      node = child;
    });
    node.kind = change.kind;
  }
  return root;
}

const KIND_STYLE = { added: "text-emerald-300", changed: "text-amber-300", deleted: "text-red-300 line-through" } as const;
const KIND_MARK = { added: "A", changed: "C", deleted: "D" } as const;

function TreeRow({ node, depth }: { node: TreeNode; depth: number }) {
  const label = (
    <span className={cx("font-mono text-xs", node.kind ? KIND_STYLE[node.kind] : "text-zinc-400")} data-testid="layer-path" data-path={node.path} data-kind={node.kind ?? ""}>
      {node.kind ? <span className="mr-1.5 inline-block w-3 text-zinc-500">{KIND_MARK[node.kind]}</span> : <span className="mr-1.5 inline-block w-3" />}
      {node.name}
      {node.children.size > 0 ? "/" : ""}
    </span>
  );
  if (node.children.size === 0) return <div className="py-px">{label}</div>;
  const children = [...node.children.values()].sort((a, b) => a.name.localeCompare(b.name));
  return (
    <details open={depth < 3} className="py-px">
      <summary className="cursor-pointer select-none">{label}</summary>
      <div className="ml-4 border-l border-zinc-800 pl-2">
        {children.map((child) => (
          <TreeRow key={child.path} node={child} depth={depth + 1} />
        ))}
      </div>
    </details>
  );
}

function LayerBar({ writable, image }: { writable: number; image: number }) {
  const total = Math.max(1, writable + image);
  const pct = Math.max(writable > 0 ? 1 : 0, Math.round((writable / total) * 100));
  return (
    <div className="flex flex-col gap-1.5" data-testid="layer-size">
      <div className="flex h-3 overflow-hidden rounded-full bg-zinc-800">
        <div className="bg-sky-500" style={{ width: `${pct}%` }} title="Writable layer" />
      </div>
      <div className="flex flex-wrap gap-4 text-xs text-zinc-400">
        <span>
          <span className="mr-1 inline-block size-2 rounded-full bg-sky-500" />
          Writable layer <span className="font-mono text-zinc-100" data-testid="layer-size-rw">{formatBytes(writable)}</span>
        </span>
        <span>
          <span className="mr-1 inline-block size-2 rounded-full bg-zinc-600" />
          Image underneath (read-only) <span className="font-mono text-zinc-100">{formatBytes(image)}</span>
        </span>
      </div>
    </div>
  );
}

/** The container's writable layer: its size against the image, its diff as a tree, and commit. */
export function WritableLayer({ hostId, containerId, containerName, canCommit, online }: { hostId: string; containerId: string; containerName: string; canCommit: boolean; online: boolean }) {
  const trpc = useTRPC();
  const input = { hostId, containerId };
  const size = useQuery({ ...trpc.containers.layerSize.queryOptions(input), enabled: online, refetchOnWindowFocus: false });
  const changes = useQuery({ ...trpc.containers.changes.queryOptions(input), enabled: online, refetchOnWindowFocus: false });
  const tree = useMemo(() => (changes.data ? buildTree(changes.data.changes) : null), [changes.data]);
  const counts = useMemo(() => {
    const c = { added: 0, changed: 0, deleted: 0 };
    for (const change of changes.data?.changes ?? []) c[change.kind]++;
    return c;
  }, [changes.data]);
  if (!online) return <p className="py-6 text-center text-xs text-zinc-500">The host is offline: the writable layer is read live from Docker.</p>;

  return (
    <div className="flex flex-col gap-4">
      <Section
        title="Writable layer"
        description="Every container is its image's read-only layers plus one thin writable layer; this is that layer. It is deleted with the container."
        actions={
          <Button
            size="xs"
            variant="ghost"
            icon={<RefreshCw className="size-3" />}
            loading={changes.isFetching || size.isFetching}
            onClick={() => {
              void size.refetch();
              void changes.refetch();
            }}
            data-testid="layer-refresh"
          >
            Refresh
          </Button>
        }
      >
        {size.isPending ? <Spinner className="size-4" /> : size.error ? <FormError>{errorMessage(size.error)}</FormError> : <LayerBar writable={size.data.sizeRw ?? 0} image={size.data.imageSize ?? 0} />}
      </Section>

      <Section
        title="Changes"
        description={changes.data ? `${counts.added} added · ${counts.changed} changed · ${counts.deleted} deleted${changes.data.truncated ? ` (first ${changes.data.changes.length} of ${changes.data.total})` : ""}` : "docker diff"}
        testId="layer-changes"
      >
        {changes.isPending ? (
          <Spinner className="size-4" />
        ) : changes.error ? (
          <FormError>{errorMessage(changes.error)}</FormError>
        ) : tree && tree.children.size > 0 ? (
          <div className="max-h-[50vh] overflow-auto" data-testid="layer-tree">
            {[...tree.children.values()]
              .sort((a, b) => a.name.localeCompare(b.name))
              .map((node) => (
                <TreeRow key={node.path} node={node} depth={0} />
              ))}
          </div>
        ) : (
          <p className="text-xs text-zinc-500">Nothing written: the container's file system is exactly its image's.</p>
        )}
      </Section>

      {canCommit ? <CommitForm hostId={hostId} containerId={containerId} containerName={containerName} /> : null}
    </div>
  );
}

function CommitForm({ hostId, containerId, containerName }: { hostId: string; containerId: string; containerName: string }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [repository, setRepository] = useState(containerName.toLowerCase().replace(/[^a-z0-9._/-]+/g, "-"));
  const [tag, setTag] = useState("latest");
  const [comment, setComment] = useState("");
  const [author, setAuthor] = useState("");
  const [changes, setChanges] = useState("");
  const [pause, setPause] = useState(true);
  const [done, setDone] = useState<{ reference: string; imageId: string } | null>(null);
  const commit = useMutation(
    trpc.containers.commit.mutationOptions({
      onSuccess: (result) => {
        setDone(result);
        toasts.success(`Committed ${result.reference}`);
        void queryClient.invalidateQueries(trpc.images.list.queryFilter({ hostId }));
      },
    }),
  );
  const submit = (event: FormEvent) => {
    event.preventDefault();
    setDone(null);
    commit.mutate({
      hostId,
      containerId,
      repository: repository.trim(),
      tag: tag.trim() || "latest",
      comment,
      author,
      changes: changes.split("\n").map((l) => l.trim()).filter(Boolean),
      pause,
    });
  };
  return (
    <Section title="Commit to an image" description="docker commit: the image's layers plus this writable layer become a new image on this host." testId="commit-form">
      <form onSubmit={submit} className="grid gap-3 sm:grid-cols-2">
        <Field label="Repository" value={repository} onChange={(e) => setRepository(e.target.value)} required data-testid="commit-repository" hint="e.g. team/app" />
        <Field label="Tag" value={tag} onChange={(e) => setTag(e.target.value)} data-testid="commit-tag" />
        <Field label="Message" value={comment} onChange={(e) => setComment(e.target.value)} data-testid="commit-message" />
        <Field label="Author" value={author} onChange={(e) => setAuthor(e.target.value)} data-testid="commit-author" hint="Name <email>" />
        <label className="flex flex-col gap-1 sm:col-span-2">
          <span className="text-xs font-medium text-zinc-300">Dockerfile changes (one instruction a line)</span>
          <textarea
            value={changes}
            onChange={(e) => setChanges(e.target.value)}
            rows={3}
            placeholder={'CMD ["sh", "-c", "echo hi"]\nENV MODE=prod'}
            className="rounded-md border border-zinc-700 bg-zinc-950 px-2.5 py-1.5 font-mono text-xs text-zinc-100 placeholder:text-zinc-600 focus:border-sky-500 focus:outline-none"
            data-testid="commit-changes"
          />
          <span className="text-[11px] text-zinc-500">CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL, HEALTHCHECK</span>
        </label>
        <div className="sm:col-span-2">
          <Checkbox label="Pause the container while committing" description="Docker's default: the file system does not change mid-copy." checked={pause} onChange={(e) => setPause(e.target.checked)} />
        </div>
        {commit.error ? (
          <div className="sm:col-span-2">
            <FormError>{errorMessage(commit.error)}</FormError>
          </div>
        ) : null}
        <div className="flex items-center gap-3 sm:col-span-2">
          <Button type="submit" variant="primary" loading={commit.isPending} icon={<GitCommitHorizontal className="size-3.5" />} data-testid="commit-submit">
            Commit
          </Button>
          {done ? (
            <span className="text-xs text-emerald-300" data-testid="commit-done">
              Created <span className="font-mono">{done.reference}</span> ·{" "}
              <Link href={`/hosts/${hostId}?tab=images`} className="text-sky-300 hover:underline" data-testid="commit-images-link">
                see the host&apos;s images
              </Link>
            </span>
          ) : null}
        </div>
      </form>
    </Section>
  );
}
