-- Creating containers: host paths a container may bind-mount are listed per host (none by default).
ALTER TABLE "host" ADD COLUMN "allowedBindPaths" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- Root-equivalent container options are their own permission; of the built-in roles only Admin holds it.
UPDATE "role"
SET "permissions" = array_append("permissions", 'container.privileged'),
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "id" = 'role_admin' AND NOT ('container.privileged' = ANY ("permissions"));
