/**
 * Keeps Postgres in step with what each agent reports.
 *
 * A snapshot replaces a host's inventory: every reported object is upserted
 * and every row the snapshot no longer contains is deleted, in one
 * transaction. Bulk upserts go through `jsonb_to_recordset` so 200 containers
 * cost one statement, not 200 round trips. Single changes from Docker events
 * reuse the same statements with one record.
 */
import { createHash } from "node:crypto";
import {
  containerDigestLine,
  type TContainerRecord,
  type THostInfo,
  type TImageRecord,
  type TInventoryChange,
  type TNetworkRecord,
  type TReconciled,
  type TSnapshot,
  type TVolumeRecord,
} from "../../agent/protocol.ts";
import type { Db } from "../db/client.ts";
import type { EventBus } from "../events/bus.ts";

type Tx = Pick<Db, "$executeRawUnsafe">;

const UPSERT_CONTAINERS = `
INSERT INTO container ("hostId","dockerId",name,image,"imageId",command,state,health,"exitCode","oomKilled","restartCount",
                       "startedAt","finishedAt","createdAt",ports,labels,inspect,"syncedAt")
SELECT $1, r.id, r.name, r.image, r."imageId", r.command, r.state, r.health, r."exitCode", r."oomKilled", r."restartCount",
       r."startedAt" AT TIME ZONE 'UTC', r."finishedAt" AT TIME ZONE 'UTC', r."createdAt" AT TIME ZONE 'UTC',
       r.ports, r.labels, r.inspect, now() AT TIME ZONE 'UTC'
FROM jsonb_to_recordset($2::jsonb) AS r(id text, name text, image text, "imageId" text, command text, state text,
     health text, "exitCode" int, "oomKilled" boolean, "restartCount" int, "startedAt" timestamptz, "finishedAt" timestamptz,
     "createdAt" timestamptz, ports jsonb, labels jsonb, inspect jsonb)
ON CONFLICT ("hostId","dockerId") DO UPDATE SET
  name = EXCLUDED.name, image = EXCLUDED.image, "imageId" = EXCLUDED."imageId", command = EXCLUDED.command,
  state = EXCLUDED.state, health = EXCLUDED.health, "exitCode" = EXCLUDED."exitCode", "oomKilled" = EXCLUDED."oomKilled",
  "restartCount" = EXCLUDED."restartCount",
  "startedAt" = EXCLUDED."startedAt", "finishedAt" = EXCLUDED."finishedAt", "createdAt" = EXCLUDED."createdAt",
  ports = EXCLUDED.ports, labels = EXCLUDED.labels,
  -- Rewriting an unchanged inspect document costs most of a resync: keep the stored one.
  inspect = CASE WHEN container.inspect = EXCLUDED.inspect THEN container.inspect ELSE EXCLUDED.inspect END,
  "syncedAt" = EXCLUDED."syncedAt"`;

const UPSERT_IMAGES = `
INSERT INTO image ("hostId","dockerId","repoTags","repoDigests","parentId","sizeBytes","createdAt",labels,"syncedAt")
SELECT $1, r.id, ARRAY(SELECT jsonb_array_elements_text(r."repoTags")), ARRAY(SELECT jsonb_array_elements_text(r."repoDigests")),
       r."parentId", r."sizeBytes", r."createdAt" AT TIME ZONE 'UTC', r.labels, now() AT TIME ZONE 'UTC'
FROM jsonb_to_recordset($2::jsonb) AS r(id text, "repoTags" jsonb, "repoDigests" jsonb, "parentId" text,
     "sizeBytes" bigint, "createdAt" timestamptz, labels jsonb)
ON CONFLICT ("hostId","dockerId") DO UPDATE SET
  "repoTags" = EXCLUDED."repoTags", "repoDigests" = EXCLUDED."repoDigests", "parentId" = EXCLUDED."parentId",
  "sizeBytes" = EXCLUDED."sizeBytes", "createdAt" = EXCLUDED."createdAt", labels = EXCLUDED.labels, "syncedAt" = EXCLUDED."syncedAt"`;

const UPSERT_VOLUMES = `
INSERT INTO volume ("hostId",name,driver,mountpoint,scope,labels,"createdAt","syncedAt")
SELECT $1, r.name, r.driver, r.mountpoint, r.scope, r.labels, r."createdAt" AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM jsonb_to_recordset($2::jsonb) AS r(name text, driver text, mountpoint text, scope text, labels jsonb, "createdAt" timestamptz)
ON CONFLICT ("hostId",name) DO UPDATE SET
  driver = EXCLUDED.driver, mountpoint = EXCLUDED.mountpoint, scope = EXCLUDED.scope, labels = EXCLUDED.labels,
  "createdAt" = EXCLUDED."createdAt", "syncedAt" = EXCLUDED."syncedAt"`;

const UPSERT_NETWORKS = `
INSERT INTO network ("hostId","dockerId",name,driver,scope,internal,subnets,labels,"createdAt","syncedAt")
SELECT $1, r.id, r.name, r.driver, r.scope, r.internal, ARRAY(SELECT jsonb_array_elements_text(r.subnets)),
       r.labels, r."createdAt" AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC'
FROM jsonb_to_recordset($2::jsonb) AS r(id text, name text, driver text, scope text, internal boolean, subnets jsonb,
     labels jsonb, "createdAt" timestamptz)
ON CONFLICT ("hostId","dockerId") DO UPDATE SET
  name = EXCLUDED.name, driver = EXCLUDED.driver, scope = EXCLUDED.scope, internal = EXCLUDED.internal,
  subnets = EXCLUDED.subnets, labels = EXCLUDED.labels, "createdAt" = EXCLUDED."createdAt", "syncedAt" = EXCLUDED."syncedAt"`;

const TABLES = {
  container: { upsert: UPSERT_CONTAINERS, table: "container", key: `"dockerId"` },
  image: { upsert: UPSERT_IMAGES, table: "image", key: `"dockerId"` },
  volume: { upsert: UPSERT_VOLUMES, table: "volume", key: "name" },
  network: { upsert: UPSERT_NETWORKS, table: "network", key: `"dockerId"` },
} as const;
type Kind = keyof typeof TABLES;

async function upsertRecords(tx: Tx, kind: Kind, hostId: string, records: unknown[]) {
  if (records.length === 0) return;
  await tx.$executeRawUnsafe(TABLES[kind].upsert, hostId, JSON.stringify(records));
}

/** Deletes the host's rows of `kind` whose key is not in `keepKeys`. */
async function deleteMissing(tx: Tx, kind: Kind, hostId: string, keepKeys: string[]) {
  const { table, key } = TABLES[kind];
  await tx.$executeRawUnsafe(
    `DELETE FROM ${table} WHERE "hostId" = $1 AND NOT (${key} = ANY($2::text[]))`,
    hostId,
    keepKeys,
  );
}

async function removeOne(tx: Tx, kind: Kind, hostId: string, id: string) {
  const { table, key } = TABLES[kind];
  // Docker events may carry a full id where we hold a full id, or a name for volumes.
  await tx.$executeRawUnsafe(`DELETE FROM ${table} WHERE "hostId" = $1 AND ${key} = $2`, hostId, id);
}

function hostInfoData(info: THostInfo) {
  return {
    hostname: info.hostname,
    os: info.os,
    kernel: info.kernel,
    arch: info.arch,
    dockerVersion: info.dockerVersion,
    apiVersion: info.apiVersion,
    cpus: info.cpus,
    memoryBytes: BigInt(info.memoryBytes),
  };
}

export async function applySnapshot(opts: { db: Db; bus: EventBus; hostId: string; snapshot: TSnapshot }) {
  const { db, hostId, snapshot } = opts;
  await db.$transaction(
    async (tx) => {
      await tx.host.update({ where: { id: hostId }, data: hostInfoData(snapshot.host) });
      await upsertRecords(tx, "container", hostId, snapshot.containers);
      await deleteMissing(tx, "container", hostId, snapshot.containers.map((c) => c.id));
      await upsertRecords(tx, "image", hostId, snapshot.images);
      await deleteMissing(tx, "image", hostId, snapshot.images.map((i) => i.id));
      await upsertRecords(tx, "volume", hostId, snapshot.volumes);
      await deleteMissing(tx, "volume", hostId, snapshot.volumes.map((v) => v.name));
      await upsertRecords(tx, "network", hostId, snapshot.networks);
      await deleteMissing(tx, "network", hostId, snapshot.networks.map((n) => n.id));
    },
    { timeout: 60_000 },
  );
  opts.bus.publish({ type: "host.changed", hostId });
  opts.bus.publish({ type: "inventory.changed", hostId, kinds: ["container", "image", "volume", "network"] });
}

export async function applyChange(opts: { db: Db; bus: EventBus; hostId: string; change: TInventoryChange }) {
  const { db, hostId, change } = opts;
  if (change.op === "upsert") {
    const record: TContainerRecord | TImageRecord | TVolumeRecord | TNetworkRecord = change.record;
    await upsertRecords(db, change.kind, hostId, [record]);
  } else {
    await removeOne(db, change.kind, hostId, change.id);
  }
  opts.bus.publish({ type: "inventory.changed", hostId, kinds: [change.kind] });
}

/**
 * An agent's reconciliation report. Corrections it made are counted as drift
 * on the host (missed Docker events, healed); its digest of what it reported
 * is compared with this server's rows. Frames are applied in order, so a
 * mismatch means the mirror really is wrong (a frame that failed to apply):
 * the caller then asks the agent for a fresh snapshot.
 */
export async function applyReconciliation(opts: { db: Db; bus: EventBus; hostId: string; report: TReconciled }): Promise<{ inStep: boolean }> {
  const { db, hostId, report } = opts;
  const rows = await db.container.findMany({
    where: { hostId },
    select: { dockerId: true, name: true, state: true, exitCode: true, health: true, ports: true },
  });
  const lines = rows
    .map((r) => containerDigestLine({ ...r, id: r.dockerId, ports: r.ports as TContainerRecord["ports"] }))
    .sort();
  const digest = createHash("sha256").update(lines.join("\n")).digest("hex");
  const inStep = digest === report.digest && rows.length === report.containers;
  const now = new Date();
  await db.host.update({
    where: { id: hostId },
    data: {
      reconciledAt: now,
      ...(report.corrected > 0 ? { driftCount: { increment: report.corrected }, lastDriftAt: now } : {}),
    },
  });
  if (report.corrected > 0) opts.bus.publish({ type: "host.changed", hostId });
  return { inStep };
}
