/**
 * `npm run audit:verify` — walks the audit chain and names the first event
 * that does not match. Exit code 0 = intact, 1 = tampered, 2 = could not run.
 * Uses DATABASE_URL, or the embedded database in BERTH_DATA_DIR (stop the
 * server first: the embedded database has one owner at a time).
 */
import { createDb } from "../db/client.ts";
import { startEmbeddedDatabase } from "../db/embedded.ts";
import { parseServerEnv } from "../env.ts";
import { verifyAuditChain } from "../services/audit/verify.ts";

async function main() {
  const env = parseServerEnv();
  const embedded = env.DATABASE_URL ? null : await startEmbeddedDatabase(env.dataDir);
  const db = createDb({ url: env.DATABASE_URL ?? embedded!.url, maxConnections: 2 });
  try {
    const result = await verifyAuditChain(db);
    if (result.ok) {
      console.log(`audit trail intact: ${result.checked} events (seq ${result.firstSeq ?? "-"} to ${result.lastSeq ?? "-"})`);
      return 0;
    }
    console.error(`audit trail BROKEN at event ${result.brokenSeq}: ${result.reason} (${result.checked} events before it verified)`);
    return 1;
  } finally {
    await db.$disconnect();
    await embedded?.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
