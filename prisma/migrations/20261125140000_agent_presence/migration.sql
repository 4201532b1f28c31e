-- AlterTable
ALTER TABLE "host" ADD COLUMN     "duplicateAddresses" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "duplicateSeenAt" TIMESTAMP(3),
ADD COLUMN     "presenceAddress" TEXT,
ADD COLUMN     "presenceGeneration" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "presenceInstance" TEXT,
ADD COLUMN     "presenceServerId" TEXT;
