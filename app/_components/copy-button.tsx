"use client";

import { Check, Copy } from "lucide-react";
import { useEffect, useRef, useState, type ReactNode } from "react";
import { copyText } from "../_lib/clipboard";
import { Button } from "./ui";

/** "Copy" that turns into "Copied" for a moment. */
export function CopyButton({ text, testId, className, label = "Copy" }: { text: string; testId?: string; className?: string; label?: string }) {
  const [copied, setCopied] = useState(false);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  useEffect(() => () => void (timer.current && clearTimeout(timer.current)), []);

  async function onCopy() {
    if (await copyText(text)) {
      setCopied(true);
      if (timer.current) clearTimeout(timer.current);
      timer.current = setTimeout(() => setCopied(false), 1_500);
    }
  }

  return (
    <Button
      size="xs"
      variant="secondary"
      onClick={() => void onCopy()}
      className={className}
      data-testid={testId}
      icon={copied ? <Check className="size-3 text-emerald-400" /> : <Copy className="size-3" />}
    >
      {copied ? "Copied" : label}
    </Button>
  );
}

/**
 * A secret shown exactly once (initial password, API token): monospace, selectable,
 * with a copy button and the warning that it will not be shown again.
 */
export function OneTimeSecret({ value, testId, children }: { value: string; testId: string; children?: ReactNode }) {
  return (
    <div className="flex flex-col gap-2">
      <div className="relative rounded-lg border border-zinc-800 bg-zinc-950">
        <pre data-testid={testId} className="overflow-x-auto px-3.5 py-3 pr-24 font-mono text-[13px] leading-relaxed break-all whitespace-pre-wrap text-zinc-100 select-all">
          {value}
        </pre>
        <CopyButton text={value} testId={`${testId}-copy`} className="absolute top-2 right-2" />
      </div>
      <p className="text-xs leading-relaxed text-amber-200/80">
        Shown <span className="font-semibold text-amber-200">once</span>: Berth keeps only a hash. Copy it now{children ? "; " : "."}
        {children}
      </p>
    </div>
  );
}
