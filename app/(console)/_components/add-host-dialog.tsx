"use client";

import { useMutation } from "@tanstack/react-query";
import Link from "next/link";
import { useState, type FormEvent } from "react";
import { Dialog } from "../../_components/dialog";
import { Button, Field, FormError, buttonClasses } from "../../_components/ui";
import { errorMessage, useTRPC } from "../../_lib/trpc";
import { JoinCommand } from "./join-command";

/** Names a new host, then shows the one-time agent command for it. */
export function AddHostDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const trpc = useTRPC();
  const [name, setName] = useState("");
  const create = useMutation(trpc.hosts.create.mutationOptions());

  function close() {
    onClose();
    setName("");
    create.reset();
  }

  function onSubmit(event: FormEvent) {
    event.preventDefault();
    create.mutate({ name: name.trim() });
  }

  const join = create.data;

  return (
    <Dialog
      open={open}
      onClose={close}
      testId="add-host-dialog"
      title={join ? `Connect ${join.hostName}` : "Add a host"}
      description={join ? "Start the Berth agent on the machine with this command." : "Give the Docker host a name; you get a one-time command for its agent."}
    >
      {join ? (
        <div className="flex flex-col gap-4">
          <JoinCommand join={join} />
          <div className="flex justify-end gap-2 border-t border-zinc-800 pt-4">
            <Link href={`/hosts/${join.hostId}`} onClick={close} className={buttonClasses("secondary", "sm")}>
              Open host
            </Link>
            <Button size="sm" variant="primary" onClick={close} data-testid="add-host-done">
              Done
            </Button>
          </div>
        </div>
      ) : (
        <form onSubmit={onSubmit} className="flex flex-col gap-4">
          <Field
            label="Host name"
            name="hostName"
            required
            autoFocus
            autoComplete="off"
            spellCheck={false}
            maxLength={64}
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
            value={name}
            onChange={(e) => setName(e.target.value)}
            placeholder="web-01"
            hint="Letters, digits, dot, dash or underscore. Usually the machine's hostname."
          />
          {create.error ? <FormError>{errorMessage(create.error)}</FormError> : null}
          <div className="flex justify-end gap-2">
            <Button size="sm" variant="ghost" onClick={close}>
              Cancel
            </Button>
            <Button size="sm" type="submit" variant="primary" loading={create.isPending} data-testid="create-host-submit">
              Create host
            </Button>
          </div>
        </form>
      )}
    </Dialog>
  );
}
