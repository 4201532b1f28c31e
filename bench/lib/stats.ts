/**
 * Small measuring kit shared by the benchmarks: timers, order statistics,
 * ratio formatting, a plain-text table and the JSON results file.
 *
 * Benchmarks report RATIOS against a direct path measured in the same run,
 * never absolute thresholds: the machine (2 shared cores, a busy dockerd)
 * changes too much between runs for absolute numbers to mean anything alone.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { fileURLToPath } from "node:url";

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/** Milliseconds `work` took, with its result. */
export async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const started = performance.now();
  const value = await work();
  return { ms: performance.now() - started, value };
}

export type Summary = { n: number; median: number; p95: number; min: number; max: number; samples: number[] };

/** Nearest-rank percentile of an already sorted list. */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

export function summarize(samples: number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  const median = sorted.length === 0 ? Number.NaN : sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return {
    n: sorted.length,
    median,
    p95: percentile(sorted, 95),
    min: sorted[0] ?? Number.NaN,
    max: sorted[sorted.length - 1] ?? Number.NaN,
    samples: samples.map((s) => Math.round(s * 100) / 100),
  };
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return "-";
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

export function fmtMb(bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : "-";
}

export function fmtRatio(ratio: number): string {
  return Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : "-";
}

/** A left-aligned first column, right-aligned others, separated by two spaces. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** Reads `--name value` (or `--name=value`) as a positive integer. */
export function intArg(name: string, fallback: number, argv = process.argv.slice(2)): number {
  const flag = `--${name}`;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const raw = arg === flag ? argv[i + 1] : arg.startsWith(`${flag}=`) ? arg.slice(flag.length + 1) : undefined;
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} must be a positive integer (got ${raw})`);
    return value;
  }
  return fallback;
}

/** Writes bench/results/<name>-<timestamp>.json (git-ignored) and returns its path. */
export async function writeResults(name: string, data: unknown): Promise<string> {
  const dir = path.join(BENCH_DIR, "results");
  await mkdir(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const file = path.join(dir, `${name}-${stamp}.json`);
  await writeFile(file, JSON.stringify(data, (_key, value: unknown) => (typeof value === "bigint" ? value.toString() : value), 2) + "\n");
  return file;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
