-- CreateEnum
CREATE TYPE "AuditActorType" AS ENUM ('USER', 'API_TOKEN', 'AGENT', 'SYSTEM', 'ANONYMOUS');

-- CreateEnum
CREATE TYPE "AuditOutcome" AS ENUM ('SUCCESS', 'FAILURE', 'DENIED');

-- CreateTable
CREATE TABLE "role" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "description" TEXT NOT NULL DEFAULT '',
    "permissions" TEXT[],
    "builtIn" BOOLEAN NOT NULL DEFAULT false,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "role_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "team" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "team_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "team_member" (
    "teamId" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "roleId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "team_member_pkey" PRIMARY KEY ("teamId","userId")
);

-- CreateTable
CREATE TABLE "host_team" (
    "hostId" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "host_team_pkey" PRIMARY KEY ("hostId","teamId")
);

-- CreateTable
CREATE TABLE "api_token" (
    "id" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "prefix" TEXT NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "permissions" TEXT[],
    "expiresAt" TIMESTAMP(3),
    "lastUsedAt" TIMESTAMP(3),
    "revokedAt" TIMESTAMP(3),
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "api_token_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "audit_event" (
    "seq" BIGINT NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "actorType" "AuditActorType" NOT NULL,
    "actorId" TEXT,
    "actorLabel" TEXT NOT NULL,
    "teamId" TEXT,
    "hostId" TEXT,
    "target" TEXT,
    "action" TEXT NOT NULL,
    "params" JSONB NOT NULL,
    "outcome" "AuditOutcome" NOT NULL,
    "error" TEXT,
    "ip" TEXT,
    "userAgent" TEXT,
    "requestId" TEXT,
    "prevHash" TEXT NOT NULL,
    "hash" TEXT NOT NULL,

    CONSTRAINT "audit_event_pkey" PRIMARY KEY ("seq")
);

-- CreateTable
CREATE TABLE "rateLimit" (
    "id" TEXT NOT NULL,
    "key" TEXT NOT NULL,
    "count" INTEGER NOT NULL,
    "lastRequest" BIGINT NOT NULL,

    CONSTRAINT "rateLimit_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "role_name_key" ON "role"("name");

-- CreateIndex
CREATE UNIQUE INDEX "team_name_key" ON "team"("name");

-- CreateIndex
CREATE INDEX "team_member_userId_idx" ON "team_member"("userId");

-- CreateIndex
CREATE INDEX "host_team_teamId_idx" ON "host_team"("teamId");

-- CreateIndex
CREATE UNIQUE INDEX "api_token_tokenHash_key" ON "api_token"("tokenHash");

-- CreateIndex
CREATE INDEX "api_token_userId_idx" ON "api_token"("userId");

-- CreateIndex
CREATE INDEX "audit_event_at_idx" ON "audit_event"("at");

-- CreateIndex
CREATE INDEX "audit_event_actorId_seq_idx" ON "audit_event"("actorId", "seq");

-- CreateIndex
CREATE INDEX "audit_event_hostId_seq_idx" ON "audit_event"("hostId", "seq");

-- CreateIndex
CREATE INDEX "audit_event_teamId_seq_idx" ON "audit_event"("teamId", "seq");

-- CreateIndex
CREATE INDEX "audit_event_action_seq_idx" ON "audit_event"("action", "seq");

-- CreateIndex
CREATE INDEX "audit_event_outcome_seq_idx" ON "audit_event"("outcome", "seq");

-- CreateIndex
CREATE UNIQUE INDEX "rateLimit_key_key" ON "rateLimit"("key");

-- AddForeignKey
ALTER TABLE "team_member" ADD CONSTRAINT "team_member_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "team_member" ADD CONSTRAINT "team_member_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "team_member" ADD CONSTRAINT "team_member_roleId_fkey" FOREIGN KEY ("roleId") REFERENCES "role"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "host_team" ADD CONSTRAINT "host_team_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "host_team" ADD CONSTRAINT "host_team_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "api_token" ADD CONSTRAINT "api_token_userId_fkey" FOREIGN KEY ("userId") REFERENCES "user"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- ---------------------------------------------------------------------------
-- Audit trail: append-only at the database level.
-- UPDATE is always refused. DELETE is refused unless the session has set
-- berth.audit_retention = 'on' inside the retention transaction (the admin's
-- explicit, itself-audited retention action). Even then only the oldest rows
-- can go, so the remaining chain stays verifiable from its first row.
CREATE FUNCTION berth_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('berth.audit_retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_event is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_event_append_only
  BEFORE UPDATE OR DELETE ON "audit_event"
  FOR EACH ROW EXECUTE FUNCTION berth_audit_append_only();

CREATE TRIGGER audit_event_no_truncate
  BEFORE TRUNCATE ON "audit_event"
  FOR EACH STATEMENT EXECUTE FUNCTION berth_audit_append_only();

-- Free-text search over the fields a reviewer types into the search box.
ALTER TABLE "audit_event" ADD COLUMN "search" tsvector GENERATED ALWAYS AS (
  to_tsvector('simple',
    coalesce("action", '') || ' ' || coalesce("actorLabel", '') || ' ' || coalesce("target", '') || ' ' ||
    coalesce("error", '') || ' ' || coalesce("ip", '') || ' ' || coalesce("params"::text, ''))
) STORED;
CREATE INDEX "audit_event_search_idx" ON "audit_event" USING GIN ("search");

-- Built-in roles. Permission names are defined in server/auth/permissions.ts.
INSERT INTO "role" ("id", "name", "description", "permissions", "builtIn", "updatedAt") VALUES
  ('role_viewer', 'Viewer', 'Sees hosts, containers and images.', ARRAY['host.view'], true, CURRENT_TIMESTAMP),
  ('role_operator', 'Operator', 'Viewer, plus starts, stops and restarts containers, opens terminals and pulls images.',
    ARRAY['host.view', 'container.operate', 'container.exec', 'image.pull'], true, CURRENT_TIMESTAMP),
  ('role_admin', 'Admin', 'Everything on the team''s hosts, its members and its audit trail.',
    ARRAY['host.view', 'container.operate', 'container.exec', 'container.create', 'image.pull', 'host.manage', 'team.manage', 'audit.view'],
    true, CURRENT_TIMESTAMP);
