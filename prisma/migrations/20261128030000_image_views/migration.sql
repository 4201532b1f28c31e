-- Images per host and fleet-wide: which containers use an image (by host and image id),
-- the same image id across hosts, and update checks against registries.
CREATE INDEX "container_hostId_imageId_idx" ON "container"("hostId", "imageId");
CREATE INDEX "image_dockerId_idx" ON "image"("dockerId");

CREATE TABLE "image_update_check" (
    "hostId" TEXT NOT NULL,
    "reference" TEXT NOT NULL,
    "imageId" TEXT NOT NULL,
    "localDigest" TEXT NOT NULL,
    "remoteDigest" TEXT,
    "status" TEXT NOT NULL,
    "error" TEXT,
    "checkedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "image_update_check_pkey" PRIMARY KEY ("hostId","reference")
);

CREATE INDEX "image_update_check_hostId_imageId_idx" ON "image_update_check"("hostId", "imageId");

ALTER TABLE "image_update_check" ADD CONSTRAINT "image_update_check_hostId_fkey" FOREIGN KEY ("hostId") REFERENCES "host"("id") ON DELETE CASCADE ON UPDATE CASCADE;

CREATE TABLE "scheduled_job" (
    "name" TEXT NOT NULL,
    "lastRunAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "scheduled_job_pkey" PRIMARY KEY ("name")
);
