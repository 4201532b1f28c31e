import { Anchor } from "lucide-react";
import { cx } from "../_lib/cx";

export function BrandMark({ className }: { className?: string }) {
  return (
    <span className={cx("inline-flex size-7 items-center justify-center rounded-md bg-gradient-to-br from-sky-500 to-indigo-600 shadow-inner shadow-white/10", className)}>
      <Anchor className="size-4 text-white" strokeWidth={2.25} aria-hidden />
    </span>
  );
}
