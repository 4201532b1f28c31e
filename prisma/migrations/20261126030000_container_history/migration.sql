-- A container's lifecycle history (Docker's events), kept after the container is removed:
-- keyed by host and Docker id, with no foreign key to the container row.
CREATE TABLE "container_event" (
    "id" BIGSERIAL NOT NULL,
    "hostId" TEXT NOT NULL,
    "containerId" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "at" TIMESTAMP(3) NOT NULL,
    "name" TEXT NOT NULL,
    "image" TEXT NOT NULL,
    "exitCode" INTEGER,
    "signal" TEXT,
    "health" TEXT,
    "oldName" TEXT,
    "receivedAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "container_event_pkey" PRIMARY KEY ("id")
);

CREATE INDEX "container_event_hostId_containerId_at_idx" ON "container_event"("hostId", "containerId", "at" DESC);

ALTER TABLE "container_event" ADD CONSTRAINT "container_event_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Committing a container to an image is its own permission: it copies the container's
-- file system (whatever it wrote, secrets included) into an image others can run.
-- Operator and Admin get it; Viewer does not.
UPDATE "role"
SET "permissions" = array_append("permissions", 'container.commit'),
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "id" IN ('role_operator', 'role_admin') AND NOT ('container.commit' = ANY ("permissions"));
