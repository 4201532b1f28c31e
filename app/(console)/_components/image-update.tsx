"use client";

import { Badge, type Tone } from "../../_components/status";
import { formatDateTime } from "../../_lib/format";

export type UpdateCheck = { reference: string; status: string; error: string | null; remoteDigest: string | null; localDigest: string; checkedAt: Date };

const UPDATE: Record<string, { tone: Tone; label: string }> = {
  outdated: { tone: "amber", label: "update available" },
  current: { tone: "green", label: "up to date" },
  error: { tone: "red", label: "check failed" },
  unreachable: { tone: "zinc", label: "registry unreachable" },
};

/** The result of comparing a tag with its registry ("update available"), with the why in its tooltip. */
export function UpdateBadge({ check, testId }: { check: Pick<UpdateCheck, "status" | "error" | "checkedAt" | "reference" | "remoteDigest">; testId?: string }) {
  const look = UPDATE[check.status] ?? UPDATE.error!;
  const detail =
    check.status === "outdated" ? `The registry now has ${check.remoteDigest ?? "another digest"} for ${check.reference}` : check.error ?? `${check.reference} matches the registry`;
  return (
    <Badge tone={look.tone} testId={testId} title={`${detail} (checked ${formatDateTime(check.checkedAt)})`}>
      {look.label}
    </Badge>
  );
}
