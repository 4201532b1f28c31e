"use client";

import { PERMISSION_LABELS, PERMISSIONS, type Permission } from "../../../server/auth/permissions.ts";
import { Checkbox, Code } from "../../_components/ui";

/** Permission checkboxes labelled in words, the key alongside (it is what the audit trail and API errors name). */
export function PermissionPicker({ value, onChange, testId }: { value: Permission[]; onChange: (next: Permission[]) => void; testId?: string }) {
  const set = new Set(value);
  return (
    <div className="grid gap-2 rounded-md border border-zinc-800 bg-zinc-950/50 px-3 py-2.5 sm:grid-cols-2" data-testid={testId}>
      {PERMISSIONS.map((p) => (
        <Checkbox
          key={p}
          label={PERMISSION_LABELS[p]}
          description={<Code className="text-[10px]">{p}</Code>}
          checked={set.has(p)}
          data-permission={p}
          onChange={(e) => onChange(e.target.checked ? PERMISSIONS.filter((x) => x === p || set.has(x)) : value.filter((x) => x !== p))}
        />
      ))}
    </div>
  );
}
