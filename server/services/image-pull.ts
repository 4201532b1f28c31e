/**
 * Pulling an image on a host, with Docker's per-layer progress relayed live.
 *
 * The reference is parsed by Docker's rules first (a clear error for a bad
 * one, before any agent is asked). Credentials of a registry the caller may
 * use (teams, `image.pull`) go to the agent with this pull only. The pull is
 * audited when it ends, with its outcome and Docker's error, never the
 * credentials; a cancelled pull is recorded as a failure saying so.
 */
import { parseImageReference } from "../../agent/image-reference.ts";
import type { TImagePullProgress } from "../../agent/protocol.ts";
import { auditActor } from "../auth/guard.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import type { Principal } from "./access.ts";
import type { AgentLink } from "./agent-link.ts";
import { appendAuditEvent, type AuditRequestMeta } from "./audit/append.ts";
import { credentialsFor } from "./registries.ts";

const log = createLogger("image-pull");

export type PullHandle = { reference: string; cancel(): void; ack(seq: number): void };

export async function startImagePull(opts: {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  secrets: SecretBox;
  principal: Principal;
  request: AuditRequestMeta;
  hostId: string;
  reference: string;
  onProgress: (progress: TImagePullProgress, seq: number) => void;
  onEnd: (result: { error: string | null; imageId: string | null; digest: string | null }) => void;
}): Promise<PullHandle> {
  const parsed = parseImageReference(opts.reference.trim());
  if (!parsed.ok) throw new AppError("BAD_REQUEST", parsed.error.message);
  // What Docker is asked for: the normalised name (docker.io/library/… for Docker Hub) with its tag or digest.
  const reference = parsed.reference.canonical;
  const host = await opts.db.host.findUnique({ where: { id: opts.hostId }, select: { name: true } });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  const auth = await credentialsFor({ db: opts.db, secrets: opts.secrets, reference, principal: opts.principal, permission: "image.pull" });

  let done: { imageId: string | null; digest: string | null } | null = null;
  let cancelled = false;
  const record = (error: string | null, imageId: string | null) =>
    appendAuditEvent({
      db: opts.db,
      bus: opts.bus,
      event: {
        actor: auditActor(opts.principal),
        action: "images.pull",
        outcome: error ? "FAILURE" : "SUCCESS",
        hostId: opts.hostId,
        hostName: host.name,
        target: imageId ? `imageId:${imageId}` : `reference:${reference}`,
        targetName: parsed.reference.familiar,
        params: { hostId: opts.hostId, reference, authenticatedAs: auth ? `${auth.username}@${auth.serveraddress}` : null, digest: done?.digest ?? null },
        error,
        request: opts.request,
      },
    }).catch((e: unknown) => log.error("could not record a pull", { error: String(e) }));

  let stream;
  try {
    stream = await opts.link.openStream(
      opts.hostId,
      "image.pull",
      { reference, auth },
      {
        data: (progress, seq) => {
          if (progress.done) done = progress.done;
          opts.onProgress(progress, seq);
        },
        end: (error) => {
          const message = cancelled ? "Cancelled" : error ? error.message : done ? null : "The pull ended without finishing";
          void record(message, done?.imageId ?? null);
          opts.onEnd({ error: message, imageId: done?.imageId ?? null, digest: done?.digest ?? null });
        },
      },
    );
  } catch (error) {
    await record(error instanceof Error ? error.message : String(error), null);
    throw error;
  }
  return {
    reference,
    cancel() {
      cancelled = true;
      stream.close();
    },
    ack: (seq) => stream.ack(seq),
  };
}
