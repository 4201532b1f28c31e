/**
 * Moving images between a host and a registry (pull, push) with Docker's
 * per-layer progress relayed live: one agent stream per transfer, paced by
 * the page's acks, audited when it ends with its outcome, the credentials'
 * user (never the password) and the digest; a cancelled transfer is recorded
 * as a failure saying so. Credentials of a registry the caller may use on
 * this host (registries.ts `credentialsFor`) go to the agent with this one
 * operation only.
 */
import type { ImageReference } from "../../agent/image-reference.ts";
import type { StreamParams, TImagePullProgress } from "../../agent/protocol.ts";
import { auditActor } from "../auth/guard.ts";
import type { Permission } from "../auth/permissions.ts";
import type { SecretBox } from "../crypto/secret-box.ts";
import type { Db } from "../db/client.ts";
import { AppError } from "../errors.ts";
import type { EventBus } from "../events/bus.ts";
import { createLogger } from "../logger.ts";
import type { Principal } from "./access.ts";
import type { AgentLink } from "./agent-link.ts";
import { appendAuditEvent, markAudited, type AuditRequestMeta } from "./audit/append.ts";
import { credentialsFor } from "./registries.ts";

const log = createLogger("image-transfer");

export type TransferHandle = { reference: string; cancel(): void; ack(seq: number): void };
export type TransferResult = { error: string | null; imageId: string | null; digest: string | null };

/** What every transfer gets from its caller (the browser hub). */
export type TransferOptions = {
  db: Db;
  bus: EventBus;
  link: AgentLink;
  secrets: SecretBox;
  principal: Principal;
  request: AuditRequestMeta;
  hostId: string;
  onProgress: (progress: TImagePullProgress, seq: number) => void;
  onEnd: (result: TransferResult) => void;
};

const KINDS = {
  pull: { stream: "image.pull", permission: "image.pull", action: "images.pull", verb: "pull" },
  push: { stream: "image.push", permission: "image.push", action: "images.push", verb: "push" },
} as const satisfies Record<string, { stream: "image.pull" | "image.push"; permission: Permission; action: string; verb: string }>;

export async function startImageTransfer<K extends keyof typeof KINDS>(
  opts: TransferOptions & {
    kind: K;
    /** Parsed by Docker's rules by the caller; Docker is asked for its canonical form. */
    reference: ImageReference;
    params: Omit<StreamParams<(typeof KINDS)[K]["stream"]>, "auth" | "reference">;
    /** Audit target before the image id is known (a push names its source image). */
    target: string;
    auditParams?: Record<string, unknown>;
  },
): Promise<TransferHandle> {
  const kind = KINDS[opts.kind];
  const reference = opts.reference.canonical;
  const host = await opts.db.host.findUnique({ where: { id: opts.hostId }, select: { name: true } });
  if (!host) throw new AppError("NOT_FOUND", "Host not found");
  const auth = await credentialsFor({ db: opts.db, secrets: opts.secrets, reference, principal: opts.principal, permission: kind.permission, hostId: opts.hostId });

  let done: { imageId: string | null; digest: string | null } | null = null;
  let cancelled = false;
  const record = (error: string | null, imageId: string | null) =>
    appendAuditEvent({
      db: opts.db,
      bus: opts.bus,
      event: {
        actor: auditActor(opts.principal),
        action: kind.action,
        outcome: error ? "FAILURE" : "SUCCESS",
        hostId: opts.hostId,
        hostName: host.name,
        target: imageId ? `imageId:${imageId}` : opts.target,
        targetName: opts.reference.familiar,
        params: { hostId: opts.hostId, reference, ...opts.auditParams, authenticatedAs: auth ? `${auth.username}@${auth.serveraddress}` : null, digest: done?.digest ?? null },
        error,
        request: opts.request,
      },
    }).catch((e: unknown) => log.error(`could not record a ${kind.verb}`, { error: String(e) }));

  let stream;
  try {
    stream = await opts.link.openStream(
      opts.hostId,
      kind.stream,
      { ...opts.params, reference, auth } as StreamParams<(typeof KINDS)[K]["stream"]>,
      {
        data: (progress, seq) => {
          if (progress.done) done = progress.done;
          opts.onProgress(progress, seq);
        },
        end: (error) => {
          const message = cancelled ? "Cancelled" : error ? error.message : done ? null : `The ${kind.verb} ended without finishing`;
          // Recorded before the page hears of it: whoever reads the trail after the end finds the row.
          void record(message, done?.imageId ?? null).finally(() => opts.onEnd({ error: message, imageId: done?.imageId ?? null, digest: done?.digest ?? null }));
        },
      },
    );
  } catch (error) {
    await record(error instanceof Error ? error.message : String(error), null);
    throw markAudited(error);
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
