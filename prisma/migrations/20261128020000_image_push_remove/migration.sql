-- Pushing images (to registries the team uses) and removing them (untag,
-- remove, prune) are an operator's job: built-in Operator and Admin.
UPDATE "role"
SET "permissions" = array_append("permissions", 'image.push'),
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "id" IN ('role_operator', 'role_admin') AND NOT ('image.push' = ANY ("permissions"));

UPDATE "role"
SET "permissions" = array_append("permissions", 'image.remove'),
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "id" IN ('role_operator', 'role_admin') AND NOT ('image.remove' = ANY ("permissions"));
