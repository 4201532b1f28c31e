-- Reading a container's logs becomes its own permission (logs can hold secrets).
-- The built-in roles all get it, as they could already see the containers.
UPDATE "role"
SET "permissions" = array_append("permissions", 'container.logs'),
    "description" = CASE "id" WHEN 'role_viewer' THEN 'Sees hosts, containers, their logs and images.' ELSE "description" END,
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "builtIn" AND NOT ('container.logs' = ANY ("permissions"));
