-- AlterTable
ALTER TABLE "audit_event" ADD COLUMN     "hostName" TEXT,
ADD COLUMN     "targetName" TEXT;

-- Audit targets carry names beside ids (a container's and its host's), and free-text search finds
-- them by name. The search column is generated, so it is recreated with the two new columns.
DROP INDEX "audit_event_search_idx";
ALTER TABLE "audit_event" DROP COLUMN "search";
ALTER TABLE "audit_event" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (
  to_tsvector('simple',
    coalesce("action", '') || ' ' || translate(coalesce("action", ''), '._', '  ') || ' ' ||
    coalesce("actorLabel", '') || ' ' || translate(coalesce("actorLabel", ''), '@.', '  ') || ' ' ||
    coalesce("target", '') || ' ' || coalesce("targetName", '') || ' ' || coalesce("hostName", '') || ' ' ||
    coalesce("error", '') || ' ' || coalesce("ip", '') || ' ' ||
    coalesce("params"::text, ''))
) STORED;
CREATE INDEX "audit_event_search_idx" ON "audit_event" USING GIN ("search");
