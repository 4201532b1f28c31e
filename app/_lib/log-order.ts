/**
 * Ordering log lines by Docker's timestamps, and the resume point of a log
 * stream (pure: shared by the log views and their tests).
 */
import type { TLogLine } from "../../agent/protocol";

/** Docker's timestamps are fixed-width RFC 3339 in UTC: they order as strings. Others fall back to Date. */
export function compareTs(a: string, b: string): number {
  if (a.length === b.length && a.endsWith("Z") && b.endsWith("Z")) return a < b ? -1 : a > b ? 1 : 0;
  const diff = Date.parse(a) - Date.parse(b);
  return Number.isNaN(diff) ? 0 : Math.sign(diff);
}

/**
 * Remembers the newest timestamp seen and the lines seen at it, and tells
 * which lines of a read reopened at that timestamp were already shown.
 */
export class ResumePoint {
  private ts = "";
  private atTs = new Map<string, number>();
  /** Lines at `ts` a reopened read may still repeat (counted down as they arrive). */
  private repeat = new Map<string, number>();
  private resuming = false;

  get since(): string | null {
    return this.ts || null;
  }

  /** The log is being reopened from `since`: what comes next may repeat what was seen. */
  reopen(): void {
    this.resuming = this.ts !== "";
    this.repeat = new Map(this.atTs);
  }

  /** Whether to keep the line (false: the reopened read repeats it); records it. */
  accept(line: TLogLine): boolean {
    if (!line.ts) return true;
    if (this.resuming) {
      const order = compareTs(line.ts, this.ts);
      if (order < 0) return false;
      if (order === 0) {
        const left = this.repeat.get(line.text) ?? 0;
        if (left > 0) {
          this.repeat.set(line.text, left - 1);
          return false;
        }
      } else this.resuming = false; // past the resume point: everything from here is new
    }
    if (line.ts !== this.ts) {
      if (compareTs(line.ts, this.ts) < 0 && this.ts) return true; // an older marker inserted late: keep, do not move back
      this.ts = line.ts;
      this.atTs = new Map();
    }
    this.atTs.set(line.text, (this.atTs.get(line.text) ?? 0) + 1);
    return true;
  }
}

