/**
 * A `pg.Pool` for Prisma's migration engine.
 *
 * Works around prisma/orm#27403: adapter-pg refuses to deserialize the catalog
 * types `name` (OID 19) and `"char"` (OID 18), which `migrate deploy` reads
 * from pg_catalog. Both are plain text on the wire, so we relabel them as
 * `text` (OID 25) on every result before the adapter sees them.
 */
import pg from "pg";

const TEXT_OID = 25;
const CATALOG_TEXT_OIDS = new Set([18, 19]);

type QueryResultLike = { fields?: Array<{ dataTypeID: number }> };

function relabelCatalogTypes<T>(result: T): T {
  const results = Array.isArray(result) ? result : [result];
  for (const r of results as QueryResultLike[]) {
    for (const field of r?.fields ?? []) {
      if (CATALOG_TEXT_OIDS.has(field.dataTypeID)) field.dataTypeID = TEXT_OID;
    }
  }
  return result;
}

class CatalogSafeClient extends pg.Client {
  // pg's query() has many overloads (promise and callback forms); we wrap both.
  override query(...args: unknown[]): never {
    const last = args[args.length - 1];
    if (typeof last === "function") {
      const callback = last as (err: Error | null, res: unknown) => void;
      args[args.length - 1] = (err: Error | null, res: unknown) =>
        callback(err, err ? res : relabelCatalogTypes(res));
      return (super.query as (...a: unknown[]) => never)(...args);
    }
    const out = (super.query as (...a: unknown[]) => unknown)(...args);
    if (out && typeof (out as Promise<unknown>).then === "function") {
      return (out as Promise<unknown>).then(relabelCatalogTypes) as never;
    }
    return out as never;
  }
}

export function createMigrationPool(connectionString: string): pg.Pool {
  return new pg.Pool({ connectionString, Client: CatalogSafeClient, max: 2, idleTimeoutMillis: 100, allowExitOnIdle: true });
}

type ScriptRunner = {
  client: { query(sql: string): Promise<unknown> };
  onError(error: unknown): never;
  executeScript(script: string): Promise<void>;
};

/**
 * The driver adapter for `prisma migrate`. adapter-pg 6.19 runs a migration
 * script by splitting it at every ";" — which breaks any PL/pgSQL body or a
 * comment containing a semicolon. Postgres' simple query protocol runs a whole
 * multi-statement script itself (atomically, as one implicit transaction), so
 * we hand it the script unsplit.
 */
export async function createMigrationAdapter(connectionString: string) {
  const { PrismaPg } = await import("@prisma/adapter-pg");
  const factory = new PrismaPg(createMigrationPool(connectionString));
  const connect = factory.connect.bind(factory);
  factory.connect = async () => {
    const adapter = await connect();
    (adapter as unknown as ScriptRunner).executeScript = async function (this: ScriptRunner, script: string) {
      try {
        await this.client.query(script);
      } catch (error) {
        this.onError(error);
      }
    };
    return adapter;
  };
  return factory;
}
