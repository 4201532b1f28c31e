/**
 * The server's database role, when it is not the schema's owner.
 *
 * With MIGRATION_DATABASE_URL set to the owner and DATABASE_URL to another
 * role, the server migrates as the owner and then, still as the owner, grants
 * the serving role exactly what it needs: full DML on Berth's tables, but
 * only SELECT and INSERT on audit_event. Owning neither the table nor its
 * append-only trigger, that role cannot disable or drop the trigger, and
 * without UPDATE/DELETE/TRUNCATE it cannot rewrite the trail even if the
 * trigger were gone; retention goes through berth_audit_prune(), which runs
 * as the owner and only removes a prefix. Idempotent: runs at every start.
 */
import pg from "pg";
import { createLogger } from "../logger.ts";

const log = createLogger("db-roles");

/** The role DATABASE_URL logs in as, when it differs from the migration URL's. */
export function servingRole(databaseUrl: string, migrationUrl: string | undefined): string | null {
  if (!migrationUrl) return null;
  const serving = decodeURIComponent(new URL(databaseUrl).username);
  const owner = decodeURIComponent(new URL(migrationUrl).username);
  return serving && serving !== owner ? serving : null;
}

export async function grantServingRole(migrationUrl: string, role: string): Promise<void> {
  const client = new pg.Client({ connectionString: migrationUrl });
  await client.connect();
  try {
    const quoted = client.escapeIdentifier(role);
    await client.query("BEGIN");
    await client.query(`GRANT USAGE ON SCHEMA public TO ${quoted}`);
    await client.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ${quoted}`);
    await client.query(`GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO ${quoted}`);
    // The trail: read and append, nothing else. Migrations history: read only.
    await client.query(`REVOKE UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER ON audit_event FROM ${quoted}`);
    await client.query(`REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON _prisma_migrations FROM ${quoted}`);
    await client.query(`GRANT EXECUTE ON FUNCTION berth_audit_prune(BIGINT) TO ${quoted}`);
    await client.query("COMMIT");
    log.info(`database role ${role} granted DML, audit_event read/append only`);
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}
