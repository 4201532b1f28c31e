/**
 * `npm run audit:verify [-- --checkpoint FILE [--public-key PEM_FILE]]` —
 * walks the audit chain and names the first event that does not match; with
 * checkpoints (server/services/audit/checkpoint.ts) it also proves the
 * history was not rewritten and re-hashed since they were signed.
 * Exit code 0 = intact, 1 = tampered, 2 = could not run.
 *
 * Uses DATABASE_URL, or the embedded database in BERTH_DATA_DIR (stop the
 * server first: the embedded database has one owner at a time). Checkpoint
 * signatures are checked with the server key derived from BERTH_SECRET (or
 * the secret kept in BERTH_DATA_DIR), or with the public key given; never with
 * a key taken from the checkpoint file itself.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { parseArgs } from "node:util";
import { deriveServerKey } from "../crypto/server-key.ts";
import { createDb } from "../db/client.ts";
import { startEmbeddedDatabase } from "../db/embedded.ts";
import { parseServerEnv, type ServerEnv } from "../env.ts";
import { checkCheckpoints, parseCheckpoints } from "../services/audit/checkpoint.ts";
import { verifyAuditChain } from "../services/audit/verify.ts";

async function trustedPublicKey(env: ServerEnv, publicKeyFile: string | undefined): Promise<string> {
  if (publicKeyFile) return readFile(publicKeyFile, "utf8");
  const secretFile = path.join(env.dataDir, "secret");
  const secret = env.BERTH_SECRET ?? (existsSync(secretFile) ? (await readFile(secretFile, "utf8")).trim() : null);
  if (!secret) throw new Error("To check checkpoint signatures, set BERTH_SECRET (as on the server) or pass --public-key FILE");
  return deriveServerKey(secret).publicKeyPem;
}

async function main() {
  const { values } = parseArgs({ options: { checkpoint: { type: "string", multiple: true }, "public-key": { type: "string" } } });
  const env = parseServerEnv();
  const checkpoints = [];
  for (const file of values.checkpoint ?? []) checkpoints.push(...parseCheckpoints(await readFile(file, "utf8")));
  const publicKey = checkpoints.length ? await trustedPublicKey(env, values["public-key"]) : null;

  const embedded = env.DATABASE_URL ? null : await startEmbeddedDatabase(env.dataDir);
  const db = createDb({ url: env.DATABASE_URL ?? embedded!.url, maxConnections: 2 });
  try {
    const result = await verifyAuditChain(db);
    if (!result.ok) {
      console.error(`audit trail BROKEN at event ${result.brokenSeq}: ${result.reason} (${result.checked} events before it verified)`);
      return 1;
    }
    console.log(`audit trail intact: ${result.checked} events (seq ${result.firstSeq ?? "-"} to ${result.lastSeq ?? "-"})`);
    if (publicKey) {
      const check = await checkCheckpoints(db, checkpoints, publicKey);
      if (!check.ok) {
        console.error(`audit trail REWRITTEN: checkpoint at event ${check.seq}: ${check.reason}`);
        return 1;
      }
      console.log(`checkpoints match: ${check.checked} checked${check.skipped ? `, ${check.skipped} older than the retained events` : ""}`);
    }
    return 0;
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
