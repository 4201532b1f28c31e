/**
 * Throwaway Postgres databases for tests that need a real server (Prisma
 * migrations, concurrent sessions). Each test file gets its own database, so
 * files can run in parallel and leave nothing behind.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

const DEFAULT_ADMIN_URL = "postgres://berth:berth@127.0.0.1:5432/postgres";

/** A database made by {@link createTestDatabase}. */
export interface TestDatabase {
  /** Connection URL for the new database (same credentials as the admin URL). */
  url: string;
  name: string;
  /** Ends every connection to the database and drops it. */
  drop(): Promise<void>;
}

export function adminUrl(): string {
  return process.env.BERTH_TEST_PG_ADMIN_URL ?? DEFAULT_ADMIN_URL;
}

/** Runs `work` on a fresh admin connection, explaining how to get Postgres when it is unreachable. */
export async function withAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const url = adminUrl();
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (error) {
    const safeUrl = new URL(url);
    safeUrl.password = safeUrl.password ? "***" : "";
    const reason = error instanceof Error ? error.message || error.name : String(error);
    throw new Error(
      `Postgres is not reachable at ${safeUrl.href} (${reason}): start Postgres or run .ci/run ` +
        "(or set BERTH_TEST_PG_ADMIN_URL to a superuser URL)",
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Creates an empty database `berth_test_<prefix>_<random>` on the server named by
 * `BERTH_TEST_PG_ADMIN_URL` (default: the `berth` superuser that .ci/run creates).
 */
export async function createTestDatabase(prefix = "db", options: { template?: string } = {}): Promise<TestDatabase> {
  const cleanPrefix = prefix.toLowerCase().replace(/[^a-z0-9]+/g, "_").slice(0, 30) || "db";
  const name = `berth_test_${cleanPrefix}_${randomBytes(5).toString("hex")}`;
  const template = options.template ? ` TEMPLATE "${options.template}"` : "";
  await withAdmin((client) => client.query(`CREATE DATABASE "${name}"${template}`));
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  return {
    url: url.href,
    name,
    drop: () =>
      withAdmin(async (client) => {
        await client.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
          [name],
        );
        await client.query(`DROP DATABASE IF EXISTS "${name}"`);
      }),
  };
}
