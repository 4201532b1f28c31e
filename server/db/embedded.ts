/**
 * The embedded default database: PGlite (Postgres compiled to WASM) with its
 * files in the data folder, served on a loopback port so Prisma, the migration
 * CLI and `pg` talk to it exactly as they would to a real Postgres.
 */
import { mkdir } from "node:fs/promises";
import path from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { createLogger } from "../logger.ts";

const log = createLogger("embedded-db");

export type EmbeddedDatabase = { url: string; stop(): Promise<void> };

export async function startEmbeddedDatabase(dataDir: string): Promise<EmbeddedDatabase> {
  const dir = path.join(dataDir, "pglite");
  await mkdir(dir, { recursive: true });
  const db = await PGlite.create(dir);
  // PGlite is one session; the socket server queues queries and keeps each
  // transaction on the connection that opened it, so several pool clients are safe.
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: 16 });
  await server.start();
  const [, port] = server.getServerConn().split(":");
  log.info(`embedded Postgres (PGlite) in ${dir}`);
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres?sslmode=disable`,
    async stop() {
      await server.stop();
      await db.close();
    },
  };
}
