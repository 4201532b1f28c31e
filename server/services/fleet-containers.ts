/**
 * The fleet-wide container list: every container on every host the caller
 * may see (host.view through their teams; a global admin sees all), filtered
 * and sorted in Postgres, one keyset page at a time (no OFFSET: a deep page
 * costs what the first does).
 *
 * Hand-written SQL because the order must be byte order (COLLATE "C") to match
 * the indexes of migration 20261126020000_fleet_container_list and to make
 * the keyset comparison well defined; Prisma's `cursor` would be an OFFSET-like
 * subquery in the default collation.
 */
import { z } from "zod";
import { Prisma, type Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { hostsWithPermission, type Principal } from "./access.ts";

export const FLEET_SORTS = ["name", "state", "created", "host", "image"] as const;
export type FleetSort = (typeof FLEET_SORTS)[number];
export const CONTAINER_STATES = ["created", "running", "paused", "restarting", "removing", "exited", "dead"] as const;
export const HEALTH_FILTERS = ["healthy", "unhealthy", "starting", "none"] as const;
export const FLEET_PAGE_MAX = 200;
/**
 * The first page's count stops here ("1,000+"): a full count of a filter such
 * as a name part must read every visible row, the one cost that grows with the fleet.
 */
export const FLEET_COUNT_CAP = 1000;

export const ZFleetFilter = z.object({
  /** Part of the name, any case. */
  name: z.string().trim().max(255).optional(),
  /** Part of the image reference, any case. */
  image: z.string().trim().max(1024).optional(),
  states: z.array(z.enum(CONTAINER_STATES)).max(CONTAINER_STATES.length).optional(),
  hostIds: z.array(z.string().min(1).max(64)).max(1000).optional(),
  /** `key` (has the label) or `key=value` (exactly that value). */
  label: z
    .string()
    .trim()
    .min(1)
    .max(1024)
    .refine((l) => !l.startsWith("="), "a label filter is key or key=value")
    .optional(),
  /** A published (host-side) port. */
  port: z.number().int().min(1).max(65_535).optional(),
  health: z.enum(HEALTH_FILTERS).optional(),
});
export type TFleetFilter = z.infer<typeof ZFleetFilter>;

export const ZFleetQuery = z.object({
  filter: ZFleetFilter.default({}),
  sort: z.enum(FLEET_SORTS).default("name"),
  dir: z.enum(["asc", "desc"]).default("asc"),
  limit: z.number().int().min(1).max(FLEET_PAGE_MAX).default(50),
  /** From the previous page's `nextCursor`; absent for the first page. */
  cursor: z.string().max(4096).nullish(),
});
export type TFleetQuery = z.infer<typeof ZFleetQuery>;

/** The keyset of each sort: the sort column(s) then a unique tail, all in byte order. */
const KEYSET: Record<FleetSort, Prisma.Sql[]> = {
  name: [Prisma.sql`c.name COLLATE "C"`, Prisma.sql`c."hostId" COLLATE "C"`, Prisma.sql`c."dockerId" COLLATE "C"`],
  state: [Prisma.sql`c.state COLLATE "C"`, Prisma.sql`c.name COLLATE "C"`, Prisma.sql`c."hostId" COLLATE "C"`, Prisma.sql`c."dockerId" COLLATE "C"`],
  created: [Prisma.sql`c."createdAt"`, Prisma.sql`c."hostId" COLLATE "C"`, Prisma.sql`c."dockerId" COLLATE "C"`],
  image: [Prisma.sql`c.image COLLATE "C"`, Prisma.sql`c.name COLLATE "C"`, Prisma.sql`c."hostId" COLLATE "C"`, Prisma.sql`c."dockerId" COLLATE "C"`],
  host: [Prisma.sql`h.name COLLATE "C"`, Prisma.sql`c.name COLLATE "C"`, Prisma.sql`c."dockerId" COLLATE "C"`],
};

type Row = {
  hostId: string;
  hostName: string;
  dockerId: string;
  name: string;
  image: string;
  state: string;
  health: string | null;
  exitCode: number | null;
  oomKilled: boolean;
  restartCount: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  createdAt: Date;
  ports: unknown;
};
export type FleetContainerRow = Row;

/** The key values of a row for a sort, as the cursor carries them. */
function keyOf(row: Row, sort: FleetSort): string[] {
  switch (sort) {
    case "name":
      return [row.name, row.hostId, row.dockerId];
    case "state":
      return [row.state, row.name, row.hostId, row.dockerId];
    case "created":
      return [row.createdAt.toISOString(), row.hostId, row.dockerId];
    case "image":
      return [row.image, row.name, row.hostId, row.dockerId];
    case "host":
      return [row.hostName, row.name, row.dockerId];
  }
}

const ZCursor = z.object({ s: z.enum(FLEET_SORTS), d: z.enum(["asc", "desc"]), k: z.array(z.string().max(1024)).min(3).max(4) });

function encodeCursor(sort: FleetSort, dir: "asc" | "desc", key: string[]): string {
  return Buffer.from(JSON.stringify({ s: sort, d: dir, k: key })).toString("base64url");
}

function decodeCursor(cursor: string, sort: FleetSort, dir: "asc" | "desc"): string[] {
  let parsed: z.infer<typeof ZCursor> | null = null;
  try {
    parsed = ZCursor.parse(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8")));
  } catch {
    throw new AppError("BAD_REQUEST", "The page cursor is not valid: start again from the first page");
  }
  if (parsed.s !== sort || parsed.d !== dir || parsed.k.length !== KEYSET[sort].length) {
    throw new AppError("BAD_REQUEST", "The page cursor belongs to another sort order: start again from the first page");
  }
  if (sort === "created" && Number.isNaN(Date.parse(parsed.k[0]!))) throw new AppError("BAD_REQUEST", "The page cursor is not valid: start again from the first page");
  return parsed.k;
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** The WHERE conditions of a filter (without visibility or keyset). */
function filterConditions(filter: TFleetFilter): Prisma.Sql[] {
  const where: Prisma.Sql[] = [];
  if (filter.name) where.push(Prisma.sql`c.name ILIKE ${`%${escapeLike(filter.name)}%`}`);
  if (filter.image) where.push(Prisma.sql`c.image ILIKE ${`%${escapeLike(filter.image)}%`}`);
  if (filter.states?.length) where.push(Prisma.sql`c.state = ANY(${filter.states}::text[])`);
  if (filter.hostIds?.length) where.push(Prisma.sql`c."hostId" = ANY(${filter.hostIds}::text[])`);
  if (filter.label) {
    const eq = filter.label.indexOf("=");
    if (eq < 0) where.push(Prisma.sql`c.labels ? ${filter.label}`);
    else where.push(Prisma.sql`c.labels @> ${JSON.stringify({ [filter.label.slice(0, eq)]: filter.label.slice(eq + 1) })}::jsonb`);
  }
  if (filter.port !== undefined) where.push(Prisma.sql`c.ports @> ${JSON.stringify([{ publicPort: filter.port }])}::jsonb`);
  if (filter.health === "none") where.push(Prisma.sql`c.health IS NULL`);
  else if (filter.health) where.push(Prisma.sql`c.health = ${filter.health}`);
  return where;
}

export async function listFleetContainers(opts: { db: Db; principal: Principal; query: TFleetQuery }) {
  const { db, principal, query } = opts;
  const visible = await hostsWithPermission(db, principal, "host.view");
  if (visible !== null && visible.length === 0) return { containers: [] as Row[], nextCursor: null, total: query.cursor ? null : 0, totalCapped: false };

  const where = filterConditions(query.filter);
  if (visible !== null) where.push(Prisma.sql`c."hostId" = ANY(${visible}::text[])`);
  const filtered = where.length ? Prisma.join(where, " AND ") : Prisma.sql`TRUE`;

  const keyset = KEYSET[query.sort];
  const desc = query.dir === "desc";
  let after = Prisma.sql`TRUE`;
  if (query.cursor) {
    const key = decodeCursor(query.cursor, query.sort, query.dir);
    const values = key.map((value, i) => (query.sort === "created" && i === 0 ? Prisma.sql`${new Date(value)}::timestamp` : Prisma.sql`${value}`));
    after = Prisma.sql`(${Prisma.join(keyset)}) ${desc ? Prisma.sql`<` : Prisma.sql`>`} (${Prisma.join(values)})`;
  }
  const order = Prisma.join(keyset.map((column) => (desc ? Prisma.sql`${column} DESC` : Prisma.sql`${column} ASC`)));

  const [rows, total] = await Promise.all([
    db.$queryRaw<Row[]>`
      SELECT c."hostId", h.name AS "hostName", c."dockerId", c.name, c.image, c.state, c.health, c."exitCode",
             c."oomKilled", c."restartCount", c."startedAt", c."finishedAt", c."createdAt", c.ports
      FROM container c JOIN host h ON h.id = c."hostId"
      WHERE ${filtered} AND ${after}
      ORDER BY ${order}
      LIMIT ${query.limit + 1}`,
    // The count is for the first page only: later pages keep the figure the person already saw.
    query.cursor
      ? null
      : db
          .$queryRaw<Array<{ n: bigint }>>`SELECT count(*) AS n FROM (SELECT 1 FROM container c WHERE ${filtered} LIMIT ${FLEET_COUNT_CAP + 1}) capped`
          .then((r) => Number(r[0]?.n ?? 0)),
  ]);
  const page = rows.slice(0, query.limit);
  const last = page.at(-1);
  return {
    containers: page,
    nextCursor: rows.length > query.limit && last ? encodeCursor(query.sort, query.dir, keyOf(last, query.sort)) : null,
    /** On the first page only: how many match, up to FLEET_COUNT_CAP (then `totalCapped`). */
    total: total === null ? null : Math.min(total, FLEET_COUNT_CAP),
    totalCapped: total !== null && total > FLEET_COUNT_CAP,
  };
}
