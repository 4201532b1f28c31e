/**
 * Merging the logs of several containers into one time-ordered stream, by
 * Docker's own timestamps (nanoseconds, fixed-width RFC 3339 in UTC).
 *
 * Each source's lines arrive in its own time order, but sources arrive at
 * different moments (another host, another agent, a slower link), so a late
 * batch may belong before lines already shown: it is merged in at its place,
 * not appended. Order: timestamp, then source index (stable for ties), then
 * arrival. A line without a timestamp goes at the end of what is there.
 */
import type { TLogLine } from "../../agent/protocol";
import { compareTs } from "./log-order";

export type SourcedLine = TLogLine & { sourceIndex: number };

function compare(a: SourcedLine, b: SourcedLine): number {
  if (!a.ts || !b.ts) return 0; // undated: keep arrival order
  return compareTs(a.ts, b.ts) || a.sourceIndex - b.sourceIndex;
}

/** The buffer (sorted) with the batch merged in; neither argument is changed. */
export function mergeLines(buffer: readonly SourcedLine[], batch: readonly SourcedLine[]): SourcedLine[] {
  if (batch.length === 0) return buffer.slice();
  // A source's batch is in its own order already; a late marker line may not be: sort it (stable).
  const incoming = batch.slice().sort(compare);
  // Where the batch starts: after every line that orders before or with its first line (binary search).
  let lo = 0;
  let hi = buffer.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (compare(buffer[mid]!, incoming[0]!) <= 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo === buffer.length) return buffer.concat(incoming); // the usual case: newer than all shown
  const merged = buffer.slice(0, lo);
  let i = lo;
  let j = 0;
  while (i < buffer.length && j < incoming.length) merged.push(compare(buffer[i]!, incoming[j]!) <= 0 ? buffer[i++]! : incoming[j++]!);
  while (i < buffer.length) merged.push(buffer[i++]!);
  while (j < incoming.length) merged.push(incoming[j++]!);
  return merged;
}
