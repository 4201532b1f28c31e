/**
 * Runs every benchmark in bench/ (each top-level *.ts except this file), one
 * after another so they never compete for the two cores, each in its own
 * process. Arguments are passed through: `npm run bench -- --containers 100`.
 */
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { BENCH_DIR } from "./lib/stats.ts";

const args = process.argv.slice(2);
const benches = (await readdir(BENCH_DIR, { withFileTypes: true }))
  .filter((entry) => entry.isFile() && entry.name.endsWith(".ts") && entry.name !== "run.ts")
  .map((entry) => entry.name)
  .sort();

function runOne(file: string): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", path.join(BENCH_DIR, file), ...args], { stdio: "inherit" });
    // Forward Ctrl-C/TERM so a benchmark can remove what it created before exiting.
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = forward("SIGINT");
    const onTerm = forward("SIGTERM");
    process.on("SIGINT", onInt);
    process.on("SIGTERM", onTerm);
    child.once("exit", (code, signal) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

const failures: string[] = [];
for (const file of benches) {
  console.log(`\n=== bench/${file} ===`);
  const code = await runOne(file);
  if (code !== 0) failures.push(`${file} (exit ${code})`);
}
console.log(`\n${benches.length - failures.length}/${benches.length} benchmarks completed${failures.length ? `; failed: ${failures.join(", ")}` : ""}`);
process.exit(failures.length ? 1 : 0);
