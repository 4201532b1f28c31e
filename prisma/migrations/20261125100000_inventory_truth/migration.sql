-- Container rows come from inspect alone: the human status string (frozen at
-- the last report) goes; health, OOM flag and restart count come in. The UI
-- derives "Up 3 minutes" from state and timestamps when it shows it.
ALTER TABLE "container" DROP COLUMN "status",
ADD COLUMN     "health" TEXT,
ADD COLUMN     "oomKilled" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "restartCount" INTEGER NOT NULL DEFAULT 0;

-- What the agent's periodic reconciliation found and corrected, shown on the host page.
ALTER TABLE "host" ADD COLUMN     "driftCount" INTEGER NOT NULL DEFAULT 0,
ADD COLUMN     "lastDriftAt" TIMESTAMP(3),
ADD COLUMN     "reconciledAt" TIMESTAMP(3);
