/**
 * "Update available": for each tag a host pulled from a registry (its image
 * has a RepoDigest for that repository), the registry's current digest for
 * the tag (services/registry-client.ts `manifestDigest`) against the local
 * one. Results are kept per host and reference (table image_update_check),
 * shown in the host's images and the fleet view while the tag still names
 * the image that was checked.
 *
 * Credentials: those of a stored registry of that address shared with one of
 * the Docker host's teams (registries.ts `registryTargetForTeams`) — the
 * result belongs to the host and everybody who sees the host sees it, so it
 * must not depend on who asked. Otherwise the registry is asked anonymously.
 *
 * Checked on demand (`images.checkUpdates`) and on a schedule
 * (`ImageUpdateScheduler`, BERTH_IMAGE_UPDATE_CHECK_MINUTES): every replica
 * ticks, but a run is claimed in Postgres first (`claimScheduledRun`), so only
 * one replica checks each period. A registry that cannot be reached (Docker
 * Hub from an offline machine) is recorded "unreachable" once per run and not
 * logged: it is the normal state of an air-gapped fleet.
 */
import { parseImageReference } from "../../agent/image-reference.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import { storableText } from "../text.ts";
import { registryTargetForTeams } from "./registries.ts";
import { isUnreachable, manifestDigest, type RegistryTarget } from "./registry-client.ts";

const log = createLogger("image-updates");

export const UPDATE_STATUSES = ["current", "outdated", "unreachable", "error"] as const;
export type UpdateStatus = (typeof UPDATE_STATUSES)[number];
/** At most this many tags are checked per host and run (a registry is asked once per tag). */
export const UPDATE_CHECK_MAX_TAGS = 200;

export type UpdateCheckResult = {
  reference: string;
  imageId: string;
  localDigest: string;
  remoteDigest: string | null;
  status: UpdateStatus;
  error: string | null;
  checkedAt: Date;
};

/** What the registry answered per registry address within one run (an unreachable one is asked once). */
/** Per run: registry targets by host teams and registry, and registries found unreachable. */
type RunMemo = { targets: Map<string, RegistryTarget>; unreachable: Map<string, string> };

/** The tags of an image that came from a registry, each with the local digest of its repository. */
export function pulledTags(image: { repoTags: string[]; repoDigests: string[] }): Array<{ reference: string; registry: string; path: string; tag: string; localDigest: string }> {
  const digests = new Map<string, string>();
  for (const entry of image.repoDigests) {
    const parsed = parseImageReference(entry);
    if (parsed.ok && parsed.reference.digest) digests.set(parsed.reference.name, parsed.reference.digest);
  }
  const out = [];
  for (const tag of image.repoTags) {
    const parsed = parseImageReference(tag);
    if (!parsed.ok || !parsed.reference.tag || parsed.reference.digest) continue;
    const localDigest = digests.get(parsed.reference.name);
    if (!localDigest || !parsed.reference.registry) continue;
    out.push({ reference: `${parsed.reference.name}:${parsed.reference.tag}`, registry: parsed.reference.registry, path: parsed.reference.path, tag: parsed.reference.tag, localDigest });
  }
  return out;
}

/**
 * Checks the pulled tags of one host (or of one image on it) against their
 * registries and stores the results. Throws only for a missing host or image;
 * a registry's refusal is a result (status "error" with its words).
 */
type CheckOptions = { db: Db; secrets: SecretBox; bus?: EventBus; hostId: string; imageId?: string; memo?: RunMemo };
type CheckOutcome = Awaited<ReturnType<typeof runImageUpdateCheck>>;

/**
 * Checks running now, per server (its database client) and host (and image):
 * a second ask while one runs joins it instead of asking every registry again.
 * Anyone who sees a host may start a check, and its result does not depend on
 * who asked, so a page left refreshing, or many viewers at once, cost the
 * registries one check at a time.
 */
const running = new WeakMap<Db, Map<string, Promise<CheckOutcome>>>();

/** Asks the registries about the host's pulled tags (or one image's), and stores what they answered. */
export function checkImageUpdates(opts: CheckOptions): Promise<CheckOutcome> {
  // A scheduled run shares its memo across hosts and is claimed once per period already.
  if (opts.memo) return runImageUpdateCheck(opts);
  let checks = running.get(opts.db);
  if (!checks) running.set(opts.db, (checks = new Map()));
  const key = `${opts.hostId} ${opts.imageId ?? "*"}`;
  const inFlight = checks.get(key);
  if (inFlight) return inFlight;
  const run = runImageUpdateCheck(opts).finally(() => checks.delete(key));
  checks.set(key, run);
  return run;
}

async function runImageUpdateCheck(opts: CheckOptions) {
  const { db } = opts;
  const host = await db.host.findUnique({ where: { id: opts.hostId }, select: { id: true, teams: { select: { teamId: true } } } });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  const images = await db.image.findMany({
    where: { hostId: opts.hostId, ...(opts.imageId ? { dockerId: opts.imageId } : {}) },
    select: { dockerId: true, repoTags: true, repoDigests: true },
    orderBy: { dockerId: "asc" },
  });
  if (opts.imageId && images.length === 0) throw new AppError("NOT_FOUND", "Image not found on this host");
  const tags = images.flatMap((image) => pulledTags(image).map((tag) => ({ ...tag, imageId: image.dockerId })));
  if (opts.imageId && tags.length === 0) {
    throw new AppError("BAD_REQUEST", "This image has no tag pulled from a registry (no repo digest for its tags): there is nothing to compare it with");
  }
  const memo: RunMemo = opts.memo ?? { targets: new Map(), unreachable: new Map() };
  const teamIds = host.teams.map((t) => t.teamId);
  const results: UpdateCheckResult[] = [];
  for (const tag of tags.slice(0, UPDATE_CHECK_MAX_TAGS)) {
    const checkedAt = new Date();
    const base = { reference: tag.reference, imageId: tag.imageId, localDigest: tag.localDigest, checkedAt };
    const known = memo.unreachable.get(tag.registry);
    if (known !== undefined) {
      results.push({ ...base, remoteDigest: null, status: "unreachable", error: known });
      continue;
    }
    try {
      // Keyed by the host's teams too: a scheduled run shares the memo across hosts, and one host must
      // not be checked with the credentials of a registry only another host's teams may use.
      const targetKey = `${[...teamIds].sort().join(",")} ${tag.registry}`;
      let target = memo.targets.get(targetKey);
      if (!target) {
        target = await registryTargetForTeams({ db, secrets: opts.secrets, registryHost: tag.registry, teamIds });
        memo.targets.set(targetKey, target);
      }
      const remoteDigest = await manifestDigest(target, tag.path, tag.tag);
      results.push({ ...base, remoteDigest, status: remoteDigest === tag.localDigest ? "current" : "outdated", error: null });
    } catch (error) {
      // Shown to everyone who sees the host: one storable line of bounded length, whatever a registry answered.
      const message = storableText(error instanceof Error ? error.message : String(error)).slice(0, 1000);
      if (isUnreachable(error)) {
        memo.unreachable.set(tag.registry, message);
        results.push({ ...base, remoteDigest: null, status: "unreachable", error: message });
      } else {
        results.push({ ...base, remoteDigest: null, status: "error", error: message });
      }
    }
  }
  await db.$transaction([
    ...results.map((r) =>
      db.imageUpdateCheck.upsert({
        where: { hostId_reference: { hostId: opts.hostId, reference: r.reference } },
        create: { hostId: opts.hostId, ...r },
        update: r,
      }),
    ),
    // A whole-host check also forgets tags the host no longer has.
    ...(opts.imageId ? [] : [db.imageUpdateCheck.deleteMany({ where: { hostId: opts.hostId, reference: { notIn: results.map((r) => r.reference) } } })]),
  ]);
  if (results.length > 0) opts.bus?.publish({ type: "inventory.changed", hostId: opts.hostId, kinds: ["image"] });
  return {
    results,
    checked: results.length,
    outdated: results.filter((r) => r.status === "outdated").length,
    skipped: Math.max(0, tags.length - UPDATE_CHECK_MAX_TAGS),
  };
}

/** The stored checks of some hosts that still apply (the tag still names the checked image), by `hostId imageId`. */
export async function updateChecksByImage(db: Db, hostIds: string[] | null): Promise<Map<string, Array<Omit<UpdateCheckResult, "imageId">>>> {
  const rows = await db.imageUpdateCheck.findMany({
    where: hostIds === null ? {} : { hostId: { in: hostIds } },
    select: { hostId: true, reference: true, imageId: true, localDigest: true, remoteDigest: true, status: true, error: true, checkedAt: true },
    orderBy: { reference: "asc" },
  });
  const out = new Map<string, Array<Omit<UpdateCheckResult, "imageId">>>();
  for (const { hostId, imageId, ...row } of rows) {
    const key = `${hostId} ${imageId}`;
    const list = out.get(key) ?? [];
    list.push({ ...row, status: row.status as UpdateStatus });
    out.set(key, list);
  }
  return out;
}

/** Whether a stored check still applies to an image: the image has the tag and the digest that were compared. */
export function checkApplies(image: { repoTags: string[]; repoDigests: string[] }, check: { reference: string; localDigest: string }): boolean {
  return pulledTags(image).some((t) => t.reference === check.reference && t.localDigest === check.localDigest);
}

/**
 * Claims the run of a periodic job for this period: true for exactly one
 * caller per `everyMs` across every replica sharing the database (one
 * statement; the row lock orders concurrent claims).
 */
export async function claimScheduledRun(db: Db, name: string, everyMs: number): Promise<boolean> {
  const rows = await db.$queryRaw<Array<{ name: string }>>`
    INSERT INTO scheduled_job (name, "lastRunAt") VALUES (${name}, now())
    ON CONFLICT (name) DO UPDATE SET "lastRunAt" = now()
      WHERE scheduled_job."lastRunAt" <= now() - make_interval(secs => ${everyMs / 1000}::double precision)
    RETURNING name`;
  return rows.length > 0;
}

export const UPDATE_CHECK_JOB = "image-update-check";

/**
 * Checks every host's pulled tags every `intervalMinutes` (0 = never). Each
 * replica looks at most every 10 minutes whether a run is due and claims it
 * first; a failure is logged and the next period tries again.
 */
export class ImageUpdateScheduler {
  private timers: NodeJS.Timeout[] = [];
  private running: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly opts: { db: Db; secrets: SecretBox; bus?: EventBus; intervalMinutes: number; firstTickMs?: number }) {}

  start(): void {
    if (this.opts.intervalMinutes <= 0) return;
    const everyMs = this.opts.intervalMinutes * 60_000;
    const first = setTimeout(() => this.tick(), this.opts.firstTickMs ?? 60_000);
    const timer = setInterval(() => this.tick(), Math.min(everyMs, 10 * 60_000));
    first.unref();
    timer.unref();
    this.timers.push(first, timer);
  }

  /** One look: run the checks if this replica wins the period's claim. Resolves with whether it ran. */
  tick(): Promise<boolean> {
    const run = this.running.then(async () => {
      if (this.stopped) return false;
      if (!(await claimScheduledRun(this.opts.db, UPDATE_CHECK_JOB, this.opts.intervalMinutes * 60_000))) return false;
      await this.runAll();
      return true;
    });
    this.running = run.catch((error: unknown) => log.warn("the scheduled image update check failed", { error: String(error) }));
    return run.catch(() => false);
  }

  private async runAll(): Promise<void> {
    const hosts = await this.opts.db.host.findMany({ select: { id: true }, orderBy: { id: "asc" } });
    const memo: RunMemo = { targets: new Map(), unreachable: new Map() };
    let outdated = 0;
    for (const host of hosts) {
      if (this.stopped) return;
      try {
        outdated += (await checkImageUpdates({ db: this.opts.db, secrets: this.opts.secrets, bus: this.opts.bus, hostId: host.id, memo })).outdated;
      } catch (error) {
        if (!(error instanceof AppError && error.code === "NOT_FOUND")) log.warn("an image update check failed", { hostId: host.id, error: String(error) });
      }
    }
    log.info("scheduled image update check done", { hosts: hosts.length, outdated, unreachableRegistries: memo.unreachable.size });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
    await this.running;
  }
}
