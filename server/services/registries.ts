/**
 * Image registries: their addresses, the teams that may use them, and their
 * credentials — the password sealed with the server's SecretBox
 * (server/crypto/secret-box.ts), bound to its row, and never returned by any
 * read. Browsing goes through services/registry-client.ts; pulls and pushes
 * get their credentials from `credentialsFor`, handed to the agent per
 * operation and never stored on it.
 *
 * Who may do what follows teams, like hosts: a registry is shared with
 * teams; a member's permissions on it are their role's in those teams
 * (`registry.manage` to change it, `image.pull` to browse and pull with it).
 */
import { randomUUID } from "node:crypto";
import { z } from "zod";
import { normalizeRegistryHost, parseImageReference } from "../../agent/image-reference.ts";
import type { Permission } from "../auth/permissions.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import { Prisma, type Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import { createLogger } from "../logger.ts";
import { permissionsOnRegistry, teamsWithPermission, type Principal } from "./access.ts";
import { getManifest, listRepositories, listTags, pingRegistry, type RegistryTarget } from "./registry-client.ts";

const log = createLogger("registries");

export const ZRegistryName = z.string().trim().min(1).max(64);
/** `http(s)://host[:port]` with nothing else: the v2 API lives at its root. */
export const ZRegistryUrl = z
  .string()
  .trim()
  .max(300)
  .transform((value, ctx) => {
    const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `https://${value}`;
    let url: URL;
    try {
      url = new URL(withScheme);
    } catch {
      ctx.addIssue({ code: "custom", message: "Not a URL: use https://registry.example.com or http://127.0.0.1:5000" });
      return z.NEVER;
    }
    if (url.protocol !== "https:" && url.protocol !== "http:") {
      ctx.addIssue({ code: "custom", message: "A registry URL starts with https:// (or http:// for a local one)" });
      return z.NEVER;
    }
    if (url.username || url.password || url.search || url.hash || (url.pathname !== "/" && url.pathname !== "/v2/" && url.pathname !== "/v2")) {
      ctx.addIssue({ code: "custom", message: "Give the registry's address only (scheme, host and port): credentials go in their own fields" });
      return z.NEVER;
    }
    return url.origin;
  });
export const ZRegistryUsername = z.string().trim().min(1).max(200);
export const ZRegistryPassword = z.string().min(1).max(4096);

export const ZRegistryFields = z.object({
  name: ZRegistryName,
  url: ZRegistryUrl,
  username: ZRegistryUsername.nullish(),
  password: ZRegistryPassword.nullish(),
});
export type TRegistryFields = z.infer<typeof ZRegistryFields>;

const registrySelect = {
  id: true,
  name: true,
  url: true,
  host: true,
  username: true,
  passwordEncrypted: true,
  createdAt: true,
  updatedAt: true,
  teams: { select: { team: { select: { id: true, name: true } } }, orderBy: { team: { name: "asc" } } },
} satisfies Prisma.RegistrySelect;
type RegistryRow = Prisma.RegistryGetPayload<{ select: typeof registrySelect }>;

export type RegistrySummary = {
  id: string;
  name: string;
  url: string;
  host: string;
  username: string | null;
  hasPassword: boolean;
  teams: Array<{ id: string; name: string }>;
  canManage: boolean;
  createdAt: Date;
  updatedAt: Date;
};

/** Never the password, not even sealed. */
function summarize(row: RegistryRow, canManage: boolean): RegistrySummary {
  return {
    id: row.id,
    name: row.name,
    url: row.url,
    host: row.host,
    username: row.username,
    hasPassword: row.passwordEncrypted !== null,
    teams: row.teams.map((t) => t.team),
    canManage,
    createdAt: row.createdAt,
    updatedAt: row.updatedAt,
  };
}

/**
 * What a sealed password is bound to: its purpose, its row and the address it
 * is sent to. Bound to the address so that whoever may edit a registry (or
 * write its row in the database) cannot point the stored password at a server
 * of theirs: a new address opens nothing until the password is typed again.
 */
function passwordContext(registryId: string, url: string): string {
  return `registry:${registryId}:${url}:password`;
}

/** Sealed before passwords were bound to the address; re-sealed at the next start (resealRegistryPasswords). */
function legacyPasswordContext(registryId: string): string {
  return `registry:${registryId}:password`;
}

function openPassword(secrets: SecretBox, row: { id: string; url: string; passwordEncrypted: string }): string {
  try {
    return secrets.open(row.passwordEncrypted, passwordContext(row.id, row.url));
  } catch (error) {
    try {
      return secrets.open(row.passwordEncrypted, legacyPasswordContext(row.id));
    } catch {
      throw error;
    }
  }
}

/** Docker Hub is named docker.io in references but serves its API at registry-1.docker.io. */
function apiUrlOf(url: string): string {
  return registryHostOf(url) === "docker.io" ? "https://registry-1.docker.io" : url;
}

/** The reference's registry part for a URL: `http://127.0.0.1:5000` → `127.0.0.1:5000`. */
export function registryHostOf(url: string): string {
  const host = normalizeRegistryHost(new URL(url).host);
  if (!host) throw new AppError("BAD_REQUEST", `"${url}" does not name a registry host`);
  return host;
}

async function managedTeams(db: Db, principal: Principal): Promise<Set<string> | null> {
  const teams = await teamsWithPermission(db, principal, "registry.manage");
  return teams === null ? null : new Set(teams);
}

/** Registries the caller may use or manage (every one for global admins), without secrets. */
export async function listRegistries(db: Db, principal: Principal): Promise<RegistrySummary[]> {
  const [using, managing] = await Promise.all([teamsWithPermission(db, principal, "image.pull"), managedTeams(db, principal)]);
  const visibleTeams = using === null || managing === null ? null : [...new Set([...using, ...managing])];
  const rows = await db.registry.findMany({
    where: visibleTeams === null ? {} : { teams: { some: { teamId: { in: visibleTeams } } } },
    select: registrySelect,
    orderBy: { name: "asc" },
  });
  return rows.map((row) => summarize(row, managing === null || row.teams.some((t) => managing.has(t.team.id))));
}

export async function getRegistry(db: Db, principal: Principal, registryId: string): Promise<RegistrySummary> {
  const row = await db.registry.findUnique({ where: { id: registryId }, select: registrySelect });
  if (!row) throw new AppError("NOT_FOUND", "Registry not found");
  return summarize(row, (await permissionsOnRegistry(db, principal, registryId)).has("registry.manage"));
}

function checkCredentials(fields: { username?: string | null; password?: string | null }): void {
  if ((fields.password && !fields.username) || (fields.username && fields.password === null)) {
    throw new AppError("BAD_REQUEST", "A password needs a username (leave both empty for an anonymous registry)");
  }
}

async function assertNameFree(db: Db, name: string, exceptId?: string): Promise<void> {
  const existing = await db.registry.findUnique({ where: { name }, select: { id: true } });
  if (existing && existing.id !== exceptId) throw new AppError("CONFLICT", `A registry named "${name}" already exists`);
}

/** Adds a registry for `teamId` (where the caller holds registry.manage: checked by the procedure). */
export async function createRegistry(opts: { db: Db; secrets: SecretBox; teamId: string; fields: TRegistryFields }): Promise<RegistrySummary> {
  const { db, fields } = opts;
  checkCredentials(fields);
  await assertNameFree(db, fields.name);
  if (!(await db.team.findUnique({ where: { id: opts.teamId }, select: { id: true } }))) throw new AppError("NOT_FOUND", "Team not found");
  // The id is chosen here so the sealed password can be bound to it before the row exists.
  const id = randomUUID();
  const row = await db.registry.create({
    data: {
      id,
      name: fields.name,
      url: apiUrlOf(fields.url),
      host: registryHostOf(fields.url),
      username: fields.username ?? null,
      passwordEncrypted: fields.password ? opts.secrets.seal(fields.password, passwordContext(id, apiUrlOf(fields.url))) : null,
      teams: { create: { teamId: opts.teamId } },
    },
    select: registrySelect,
  });
  return summarize(row, true);
}

/**
 * Changes a registry. `password`: omitted = keep the stored one, null = forget
 * it, a string = replace it. Changing the username alone keeps the password;
 * changing the address needs it again (it is sealed to the address: someone who
 * may edit the registry but never saw its password must not redirect it to a
 * server of theirs).
 */
export async function updateRegistry(opts: { db: Db; secrets: SecretBox; registryId: string; fields: Partial<TRegistryFields> }): Promise<RegistrySummary> {
  const { db, fields } = opts;
  const current = await db.registry.findUnique({ where: { id: opts.registryId }, select: { url: true, username: true, passwordEncrypted: true } });
  if (!current) throw new AppError("NOT_FOUND", "Registry not found");
  const url = fields.url === undefined ? current.url : apiUrlOf(fields.url);
  if (url !== current.url && fields.password === undefined && current.passwordEncrypted !== null) {
    throw new AppError("BAD_REQUEST", "Changing the registry's address needs its password again (or remove the password to use it anonymously)");
  }
  if (fields.name !== undefined) await assertNameFree(db, fields.name, opts.registryId);
  const username = fields.username === undefined ? current.username : fields.username;
  const keepsPassword = fields.password === undefined && current.passwordEncrypted !== null;
  if (!username && (fields.password || keepsPassword)) throw new AppError("BAD_REQUEST", "A password needs a username (remove the password too for an anonymous registry)");
  const data: Prisma.RegistryUpdateInput = {};
  if (fields.name !== undefined) data.name = fields.name;
  if (fields.url !== undefined) {
    data.url = apiUrlOf(fields.url);
    data.host = registryHostOf(fields.url);
  }
  if (fields.username !== undefined) data.username = fields.username;
  if (fields.password !== undefined) data.passwordEncrypted = fields.password === null ? null : opts.secrets.seal(fields.password, passwordContext(opts.registryId, url));
  const row = await db.registry.update({ where: { id: opts.registryId }, data, select: registrySelect });
  return summarize(row, true);
}

export async function removeRegistry(opts: { db: Db; registryId: string }): Promise<void> {
  const deleted = await opts.db.registry.deleteMany({ where: { id: opts.registryId } });
  if (!deleted.count) throw new AppError("NOT_FOUND", "Registry not found");
}

/**
 * Shares a registry with one more team, or stops sharing it. The procedure
 * checked registry.manage in `teamId`; this also needs it on the registry
 * itself, so nobody hands a team credentials they do not manage.
 */
export async function setRegistryTeam(opts: { db: Db; principal: Principal; registryId: string; teamId: string; shared: boolean }): Promise<RegistrySummary> {
  const { db } = opts;
  const exists = await db.registry.findUnique({ where: { id: opts.registryId }, select: { id: true } });
  if (!exists) throw new AppError("NOT_FOUND", "Registry not found");
  if (!(await permissionsOnRegistry(db, opts.principal, opts.registryId)).has("registry.manage")) {
    throw new AppError("FORBIDDEN", `You need the "registry.manage" permission in a team that uses this registry`);
  }
  if (!(await db.team.findUnique({ where: { id: opts.teamId }, select: { id: true } }))) throw new AppError("NOT_FOUND", "Team not found");
  if (opts.shared) {
    await db.registryTeam.upsert({
      where: { registryId_teamId: { registryId: opts.registryId, teamId: opts.teamId } },
      create: { registryId: opts.registryId, teamId: opts.teamId },
      update: {},
    });
  } else {
    await db.registryTeam.deleteMany({ where: { registryId: opts.registryId, teamId: opts.teamId } });
  }
  return getRegistry(db, opts.principal, opts.registryId);
}

/** The stored address and opened credentials of a registry (server-side only). */
async function targetOf(db: Db, secrets: SecretBox, registryId: string): Promise<RegistryTarget & { host: string }> {
  const row = await db.registry.findUnique({ where: { id: registryId }, select: { id: true, url: true, host: true, username: true, passwordEncrypted: true } });
  if (!row) throw new AppError("NOT_FOUND", "Registry not found");
  return { url: row.url, host: row.host, credentials: openCredentials(secrets, row) };
}

function openCredentials(secrets: SecretBox, row: { id: string; url: string; username: string | null; passwordEncrypted: string | null }): RegistryTarget["credentials"] {
  if (!row.username || !row.passwordEncrypted) return null;
  try {
    return { username: row.username, password: openPassword(secrets, { id: row.id, url: row.url, passwordEncrypted: row.passwordEncrypted }) };
  } catch (error) {
    throw new AppError("PRECONDITION_FAILED", `The stored password of this registry cannot be read: ${(error as Error).message}`);
  }
}

export async function testRegistry(opts: { db: Db; secrets: SecretBox; registryId: string }): Promise<{ ok: true; apiVersion: string | null; authenticated: boolean }> {
  const target = await targetOf(opts.db, opts.secrets, opts.registryId);
  const { apiVersion } = await pingRegistry(target);
  return { ok: true, apiVersion, authenticated: target.credentials !== null };
}

export async function browseRepositories(opts: { db: Db; secrets: SecretBox; registryId: string; last?: string; limit: number }) {
  return listRepositories(await targetOf(opts.db, opts.secrets, opts.registryId), { last: opts.last, limit: opts.limit });
}

export async function browseTags(opts: { db: Db; secrets: SecretBox; registryId: string; repository: string; last?: string; limit: number }) {
  return listTags(await targetOf(opts.db, opts.secrets, opts.registryId), opts.repository, { last: opts.last, limit: opts.limit });
}

export async function browseManifest(opts: { db: Db; secrets: SecretBox; registryId: string; repository: string; reference: string }) {
  return getManifest(await targetOf(opts.db, opts.secrets, opts.registryId), opts.repository, opts.reference);
}

/** Docker's auth config for one operation (`X-Registry-Auth`): what the agent gets, per pull or push. */
export type RegistryAuthConfig = { username: string; password: string; serveraddress: string };

/**
 * The credentials to pull (or push, with `permission`) `reference` on host
 * `hostId` as `principal`: those of a registry whose host is the reference's
 * registry and that is shared with a team that both holds `hostId` and gives
 * the principal the permission (global admins: any team holding the host).
 * Null when none applies — pull anonymously. Throws BAD_REQUEST for a
 * reference Docker would refuse.
 *
 * Why the host's teams too: the password travels to that host's agent (and
 * into its dockerd's memory). A user in team A (which uses the registry) and
 * team B (which holds the host) would otherwise hand A's credentials to a
 * host A never trusted with them; the caller's own team check cannot see that.
 */
export async function credentialsFor(opts: {
  db: Db;
  secrets: SecretBox;
  reference: string;
  principal: Principal;
  permission?: Permission;
  /** The host whose agent gets the credentials. */
  hostId: string;
}): Promise<RegistryAuthConfig | null> {
  const parsed = parseImageReference(opts.reference);
  if (!parsed.ok) throw new AppError("BAD_REQUEST", parsed.error.message);
  const host = parsed.reference.registry;
  if (!host) return null;
  const permission = opts.permission ?? "image.pull";
  const [callerTeams, hostTeams] = await Promise.all([
    teamsWithPermission(opts.db, opts.principal, permission),
    opts.db.hostTeam.findMany({ where: { hostId: opts.hostId }, select: { teamId: true } }),
  ]);
  const teams = hostTeams.map((t) => t.teamId).filter((teamId) => callerTeams === null || callerTeams.includes(teamId));
  if (teams.length === 0) return null;
  const row = await opts.db.registry.findFirst({
    where: {
      // Host names are case-insensitive (URL parsing lower-cases the stored one; a reference keeps its case).
      host: { equals: host, mode: "insensitive" },
      username: { not: null },
      passwordEncrypted: { not: null },
      teams: { some: { teamId: { in: teams } } },
    },
    select: { id: true, url: true, username: true, passwordEncrypted: true },
    orderBy: { name: "asc" },
  });
  if (!row) return null;
  const credentials = openCredentials(opts.secrets, row);
  if (!credentials) return null;
  // Docker Hub's auth config names its legacy index address; every other registry its host.
  return { ...credentials, serveraddress: host === "docker.io" ? "https://index.docker.io/v1/" : host };
}

/**
 * Docker's X-Registry-Config for a build: the credentials of every registry the
 * caller may pull from (a Dockerfile may start FROM any of them), keyed as
 * Docker looks them up. Handed to the agent with this build only; null when none.
 * A registry whose password cannot be opened is left out (the build may not need it).
 */
export async function registryConfigFor(opts: {
  db: Db;
  secrets: SecretBox;
  principal: Principal;
  /** The host whose agent builds: only registries of its teams (see credentialsFor for why). */
  hostId: string;
}): Promise<Record<string, { username: string; password: string }> | null> {
  const [callerTeams, hostTeams] = await Promise.all([
    teamsWithPermission(opts.db, opts.principal, "image.pull"),
    opts.db.hostTeam.findMany({ where: { hostId: opts.hostId }, select: { teamId: true } }),
  ]);
  const teams = hostTeams.map((t) => t.teamId).filter((teamId) => callerTeams === null || callerTeams.includes(teamId));
  if (teams.length === 0) return null;
  const rows = await opts.db.registry.findMany({
    where: { username: { not: null }, passwordEncrypted: { not: null }, teams: { some: { teamId: { in: teams } } } },
    select: { id: true, url: true, host: true, username: true, passwordEncrypted: true },
    orderBy: { name: "asc" },
    take: 64,
  });
  const config: Record<string, { username: string; password: string }> = {};
  for (const row of rows) {
    const address = row.host === "docker.io" ? "https://index.docker.io/v1/" : row.host;
    if (config[address]) continue;
    try {
      const credentials = openCredentials(opts.secrets, row);
      if (credentials) config[address] = credentials;
    } catch (error) {
      log.warn("left a registry out of a build's credentials", { registryId: row.id, error: String(error) });
    }
  }
  return Object.keys(config).length ? config : null;
}

function opensWith(secrets: SecretBox, sealed: string, context: string): boolean {
  try {
    secrets.open(sealed, context);
    return true;
  } catch {
    return false;
  }
}

/**
 * Re-seals every stored password that a previous key sealed, under the
 * current key (key rotation: see README and server/crypto/secret-box.ts), and
 * any sealed before passwords were bound to their registry's address.
 * A value that opens with no known key is left as it is and counted.
 */
export async function resealRegistryPasswords(opts: { db: Db; secrets: SecretBox }): Promise<{ resealed: number; unreadable: number }> {
  const rows = await opts.db.registry.findMany({ where: { passwordEncrypted: { not: null } }, select: { id: true, url: true, passwordEncrypted: true } });
  let resealed = 0;
  let unreadable = 0;
  for (const row of rows) {
    if (!row.passwordEncrypted) continue;
    const context = passwordContext(row.id, row.url);
    if (!opts.secrets.isStale(row.passwordEncrypted) && opensWith(opts.secrets, row.passwordEncrypted, context)) continue;
    try {
      const password = openPassword(opts.secrets, { id: row.id, url: row.url, passwordEncrypted: row.passwordEncrypted });
      // Only if nobody changed it meanwhile (another replica re-sealing, an edit).
      const updated = await opts.db.registry.updateMany({
        where: { id: row.id, url: row.url, passwordEncrypted: row.passwordEncrypted },
        data: { passwordEncrypted: opts.secrets.seal(password, context) },
      });
      resealed += updated.count;
    } catch (error) {
      unreadable++;
      log.warn("a registry password cannot be opened with the configured keys", { registryId: row.id, error: (error as Error).message });
    }
  }
  return { resealed, unreadable };
}

/**
 * Where to ask a registry about `registryHost` for work done on behalf of a
 * Docker host (update checks): a stored registry of that address shared with
 * one of `teamIds` (the Docker host's teams), with its credentials; otherwise
 * the address itself, anonymously (plain http only for loopback registries,
 * which Docker too trusts as insecure).
 */
export async function registryTargetForTeams(opts: { db: Db; secrets: SecretBox; registryHost: string; teamIds: string[] }): Promise<RegistryTarget & { registryId: string | null }> {
  const row =
    opts.teamIds.length === 0
      ? null
      : await opts.db.registry.findFirst({
          where: { host: { equals: opts.registryHost, mode: "insensitive" }, teams: { some: { teamId: { in: opts.teamIds } } } },
          select: { id: true, url: true, username: true, passwordEncrypted: true },
          orderBy: { name: "asc" },
        });
  if (row) return { registryId: row.id, url: row.url, credentials: openCredentials(opts.secrets, row) };
  const host = opts.registryHost.toLowerCase();
  const loopback = /^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$/.test(host);
  return { registryId: null, url: host === "docker.io" ? "https://registry-1.docker.io" : `${loopback ? "http" : "https"}://${host}`, credentials: null };
}
