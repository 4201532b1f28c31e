"use client";

/**
 * Create-related buttons for one container: "Duplicate" (another like this,
 * at once) and "Edit & recreate" (opens the create form filled with its
 * settings). Self-contained so the containers table and the container page
 * can both place it; shown only to holders of container.create.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { Copy, PencilLine, Plus } from "lucide-react";
import Link from "next/link";
import { useToasts } from "../../../../_components/toasts";
import { Button, buttonClasses } from "../../../../_components/ui";
import { errorMessage, useTRPC } from "../../../../_lib/trpc";

export function createPageHref(hostId: string, from?: { containerId: string; mode: "recreate" }): string {
  const base = `/hosts/${encodeURIComponent(hostId)}/container-create`;
  return from ? `${base}?from=${encodeURIComponent(from.containerId)}&mode=${from.mode}` : base;
}

/** The host page's "New container" button. */
export function NewContainerButton({ hostId }: { hostId: string }) {
  return (
    <Link href={createPageHref(hostId)} className={buttonClasses("primary", "sm")} data-testid="new-container">
      <Plus className="size-3.5" aria-hidden />
      New container
    </Link>
  );
}

export function ContainerCreateActions({ hostId, containerId, name, disabled }: { hostId: string; containerId: string; name: string; disabled?: boolean }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const duplicate = useMutation(
    trpc.containers.duplicate.mutationOptions({
      onSuccess: () => toasts.success(`Duplicated ${name}`),
      onError: (error) => toasts.error(`Could not duplicate ${name}`, errorMessage(error)),
      onSettled: () => queryClient.invalidateQueries(trpc.containers.list.queryFilter({ hostId })),
    }),
  );
  return (
    <>
      <Button
        size="xs"
        variant="ghost"
        className="border-zinc-800"
        icon={<Copy className="size-3" />}
        aria-label={`Duplicate ${name}`}
        data-testid={`action-duplicate-${name}`}
        disabled={disabled || duplicate.isPending}
        loading={duplicate.isPending}
        onClick={() => duplicate.mutate({ hostId, containerId })}
      >
        Duplicate
      </Button>
      <Link
        href={createPageHref(hostId, { containerId, mode: "recreate" })}
        aria-label={`Edit and recreate ${name}`}
        data-testid={`action-recreate-${name}`}
        className={buttonClasses("ghost", "xs", "border-zinc-800")}
      >
        <PencilLine className="size-3" aria-hidden />
        Edit &amp; recreate
      </Link>
    </>
  );
}
