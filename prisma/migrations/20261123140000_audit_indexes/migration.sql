-- DropIndex
DROP INDEX "audit_event_action_seq_idx";

-- Review queries on the audit trail (server/services/audit.ts, measured by bench/audit.ts).
-- Prisma cannot declare these indexes, so they are written here by hand.

-- Action filter: a prefix (LIKE 'containers.%'), which a default btree serves only under the C
-- collation. teamId and hostId are included so that a prefix inside a reviewer's scope is
-- answered from the index alone (an empty answer, such as auth.* for a team, reads no table rows).
CREATE INDEX "audit_event_action_prefix_idx" ON "audit_event" ("action" text_pattern_ops, "seq") INCLUDE ("teamId", "hostId");

-- Actor filter: an actor id, or the start of an actor label typed in any case.
-- The review query matches lower("actorLabel") LIKE 'prefix%' (an ILIKE cannot use an index).
CREATE INDEX "audit_event_actorLabel_prefix_idx" ON "audit_event" (lower("actorLabel") text_pattern_ops);

-- Free-text search also finds the words inside an action ("stop" finds containers.stop) and the
-- parts of an email address, not only the whole dotted token the parser makes of them.
DROP INDEX "audit_event_search_idx";
ALTER TABLE "audit_event" DROP COLUMN "search";
ALTER TABLE "audit_event" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (
  to_tsvector('simple',
    coalesce("action", '') || ' ' || translate(coalesce("action", ''), '._', '  ') || ' ' ||
    coalesce("actorLabel", '') || ' ' || translate(coalesce("actorLabel", ''), '@.', '  ') || ' ' ||
    coalesce("target", '') || ' ' || coalesce("error", '') || ' ' || coalesce("ip", '') || ' ' ||
    coalesce("params"::text, ''))
) STORED;
CREATE INDEX "audit_event_search_idx" ON "audit_event" USING GIN ("search");
