-- Where each running server replica can be reached by the others, so a live stream
-- (log, terminal) of an agent held by one replica can be relayed to a browser on another.
CREATE TABLE "server_replica" (
    "id" TEXT NOT NULL,
    "internalUrl" TEXT NOT NULL,
    "startedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastSeenAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "server_replica_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "server_replica_lastSeenAt_idx" ON "server_replica"("lastSeenAt");
