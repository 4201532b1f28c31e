"use client";

/**
 * The host's allowed bind-mount paths (host.manage): a container on this host
 * may bind-mount a host path only under one of these. None by default.
 */
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";
import { useToasts } from "../../../../_components/toasts";
import { Button, Field, FormError } from "../../../../_components/ui";
import { errorMessage, useTRPC, type Host } from "../../../../_lib/trpc";

export function BindPathsEditor({ host }: { host: Pick<Host, "id" | "allowedBindPaths"> }) {
  const trpc = useTRPC();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const [value, setValue] = useState(host.allowedBindPaths.join(", "));
  useEffect(() => setValue(host.allowedBindPaths.join(", ")), [host.allowedBindPaths]);
  const save = useMutation(
    trpc.hosts.setBindPaths.mutationOptions({
      onSuccess: () => {
        toasts.success("Allowed bind-mount paths saved");
        void queryClient.invalidateQueries(trpc.hosts.byId.queryFilter({ hostId: host.id }));
      },
    }),
  );
  const paths = value.split(/[\s,]+/).filter(Boolean);
  return (
    <form
      className="flex flex-wrap items-end gap-2"
      data-testid="bind-paths"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate({ hostId: host.id, paths });
      }}
    >
      <Field
        label="Host paths containers may bind-mount"
        placeholder="none: named volumes only (e.g. /srv/data, /opt/configs)"
        value={value}
        onChange={(e) => setValue(e.target.value)}
        className="min-w-0 flex-1 basis-60"
        hint="Absolute paths, comma separated; everything under them is allowed. Bind mounts also need the container.privileged permission."
      />
      <Button type="submit" size="md" loading={save.isPending} className="mb-6">
        Save
      </Button>
      {save.error ? <FormError>{errorMessage(save.error)}</FormError> : null}
    </form>
  );
}
