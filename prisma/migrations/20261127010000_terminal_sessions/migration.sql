-- Terminal sessions and their asciicast recordings. No foreign keys to host, container or
-- user: a recording lives as long as the audit event that links to it (retention deletes both).
CREATE TABLE "terminal_session" (
    "id" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "hostId" TEXT NOT NULL,
    "hostName" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "containerName" TEXT NOT NULL,
    "userId" TEXT NOT NULL,
    "userLabel" TEXT NOT NULL,
    "command" TEXT NOT NULL,
    "readOnly" BOOLEAN NOT NULL,
    "inputRecorded" BOOLEAN NOT NULL,
    "width" INTEGER NOT NULL,
    "height" INTEGER NOT NULL,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMPTZ(3),
    "endReason" TEXT,
    "exitCode" INTEGER,
    "bytes" INTEGER NOT NULL DEFAULT 0,
    "truncated" BOOLEAN NOT NULL DEFAULT false,
    "auditSeq" BIGINT,

    CONSTRAINT "terminal_session_pkey" PRIMARY KEY ("id")
);
CREATE INDEX "terminal_session_userId_endedAt_idx" ON "terminal_session"("userId", "endedAt");
CREATE INDEX "terminal_session_auditSeq_idx" ON "terminal_session"("auditSeq");

CREATE TABLE "terminal_recording_chunk" (
    "sessionId" TEXT NOT NULL,
    "seq" INTEGER NOT NULL,
    "data" TEXT NOT NULL,

    CONSTRAINT "terminal_recording_chunk_pkey" PRIMARY KEY ("sessionId", "seq")
);
ALTER TABLE "terminal_recording_chunk" ADD CONSTRAINT "terminal_recording_chunk_sessionId_fkey" FOREIGN KEY ("sessionId") REFERENCES "terminal_session"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "app_setting" (
    "key" TEXT NOT NULL,
    "value" JSONB NOT NULL,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "app_setting_pkey" PRIMARY KEY ("key")
);
