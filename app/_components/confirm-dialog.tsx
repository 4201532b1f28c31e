"use client";

import type { ReactNode } from "react";
import { errorMessage } from "../_lib/trpc";
import { Dialog } from "./dialog";
import { Button, FormError } from "./ui";

/** "Are you sure?" for destructive actions; the error of a failed attempt stays in the dialog. */
export function ConfirmDialog({
  open,
  onClose,
  title,
  children,
  confirmLabel,
  onConfirm,
  pending,
  error,
  testId,
  disabled = false,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  pending: boolean;
  error: unknown;
  testId?: string;
  disabled?: boolean;
}) {
  return (
    <Dialog open={open} onClose={onClose} title={title} testId={testId}>
      <div className="text-xs leading-relaxed text-zinc-400">{children}</div>
      {error ? (
        <div className="mt-3">
          <FormError>{errorMessage(error)}</FormError>
        </div>
      ) : null}
      <div className="mt-4 flex justify-end gap-2">
        <Button size="sm" variant="ghost" onClick={onClose}>
          Cancel
        </Button>
        <Button size="sm" variant="danger" loading={pending} disabled={disabled} onClick={onConfirm} data-testid={testId ? `${testId}-confirm` : undefined}>
          {confirmLabel}
        </Button>
      </div>
    </Dialog>
  );
}
