-- AlterTable
ALTER TABLE "api_token" ADD COLUMN     "allPermissions" BOOLEAN NOT NULL DEFAULT false;

-- Until now an empty permission list silently meant "everything the user holds".
-- Keep those tokens working as they were, now with the explicit flag; from here on
-- an empty list means nothing, and "all" is a choice made when the token is created.
UPDATE "api_token" SET "allPermissions" = true WHERE cardinality("permissions") = 0;
