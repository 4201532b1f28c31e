/**
 * Prisma CLI configuration. Berth runs Prisma on its JS/WASM engine through
 * the `pg` driver adapter so that `prisma generate` and `prisma migrate deploy`
 * never download native engine binaries (air-gapped installs work).
 */
import path from "node:path";
import { defineConfig } from "prisma/config";
import { createMigrationAdapter } from "./server/db/migration-pool";

export default defineConfig({
  engine: "js",
  experimental: { adapter: true },
  schema: path.join("prisma", "schema.prisma"),
  migrations: { path: path.join("prisma", "migrations") },
  async adapter() {
    const url = process.env.DATABASE_URL;
    if (!url) throw new Error("DATABASE_URL is not set for the Prisma CLI");
    return createMigrationAdapter(url);
  },
});
