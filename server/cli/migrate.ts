/**
 * `node --import tsx server/cli/migrate.ts` — applies migrations as the
 * schema's owner (MIGRATION_DATABASE_URL, else DATABASE_URL) and, when
 * DATABASE_URL is another role, grants it what the server needs and no more
 * (server/db/roles.ts). The one-shot `migrate` service of docker-compose.yml.
 */
import { migrateDatabase } from "../db/migrate.ts";
import { grantServingRole, servingRole } from "../db/roles.ts";
import { parseServerEnv } from "../env.ts";

async function main() {
  const env = parseServerEnv();
  const ownerUrl = env.MIGRATION_DATABASE_URL ?? env.DATABASE_URL;
  if (!ownerUrl) throw new Error("Set MIGRATION_DATABASE_URL (or DATABASE_URL) to the database to migrate");
  await migrateDatabase(ownerUrl);
  const serving = env.DATABASE_URL ? servingRole(env.DATABASE_URL, env.MIGRATION_DATABASE_URL) : null;
  if (serving) await grantServingRole(ownerUrl, serving);
  console.log(`migrations applied${serving ? `; ${serving} may serve` : ""}`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  },
);
