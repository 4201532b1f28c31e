-- image.build: run a Dockerfile on a host's dockerd. A build runs arbitrary RUN steps as root on
-- the host (without host mounts) and produces images others may run, like a commit.
-- Operator and Admin get it; Viewer does not.
UPDATE "role"
SET "permissions" = array_append("permissions", 'image.build'),
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "id" IN ('role_operator', 'role_admin') AND NOT ('image.build' = ANY ("permissions"));
