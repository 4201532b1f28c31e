/**
 * Applies committed migrations at start with `prisma migrate deploy` on the
 * JS engine (see prisma.config.ts).
 *
 * The WASM schema engine holds the CLI process open for ~10 s after it has
 * finished (an uncleared 10 s timer in prisma 6.19's schema engine), so:
 * we first compare the migration folders with `_prisma_migrations` and only
 * run the CLI when something is pending, and once the CLI has printed its
 * final success line (all work committed) we end it instead of waiting.
 */
import { spawn } from "node:child_process";
import { readdir } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { createLogger } from "../logger.ts";

const log = createLogger("migrate");
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MIGRATIONS_DIR = path.join(ROOT, "prisma", "migrations");

async function committedMigrations(): Promise<string[]> {
  const entries = await readdir(MIGRATIONS_DIR, { withFileTypes: true });
  return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
}

async function appliedMigrations(url: string): Promise<Set<string>> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const exists = await client.query<{ present: boolean }>(
      "SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS present",
    );
    if (!exists.rows[0]?.present) return new Set();
    const rows = await client.query<{ migration_name: string }>(
      "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL",
    );
    return new Set(rows.rows.map((r) => r.migration_name));
  } finally {
    await client.end();
  }
}

export async function pendingMigrations(url: string): Promise<string[]> {
  const [committed, applied] = await Promise.all([committedMigrations(), appliedMigrations(url)]);
  return committed.filter((name) => !applied.has(name));
}

export async function migrateDatabase(url: string): Promise<void> {
  const pending = await pendingMigrations(url);
  if (pending.length === 0) return;
  log.info(`applying ${pending.length} migration(s): ${pending.join(", ")}`);
  const prismaCli = path.join(ROOT, "node_modules", "prisma", "build", "index.js");
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, [prismaCli, "migrate", "deploy"], {
      cwd: ROOT,
      env: { ...process.env, DATABASE_URL: url, CHECKPOINT_DISABLE: "1", PRISMA_HIDE_UPDATE_MESSAGE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    let succeeded = false;
    child.stdout.on("data", (d: Buffer) => {
      output += d.toString();
      if (!succeeded && /All migrations have been successfully applied|No pending migrations to apply/.test(output)) {
        succeeded = true;
        setTimeout(() => child.kill("SIGTERM"), 100);
      }
    });
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    child.on("error", reject);
    child.on("exit", (code) => {
      if (code === 0 || succeeded) resolve();
      else reject(new Error(`prisma migrate deploy failed (exit ${code}):\n${output.trim()}`));
    });
  });
  log.info("migrations applied");
}
