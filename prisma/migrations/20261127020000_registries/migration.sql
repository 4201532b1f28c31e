-- Image registries with credentials sealed by the server (AES-256-GCM, key outside the database),
-- and the teams that may use each one.
CREATE TABLE "registry" (
    "id" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "url" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "username" TEXT,
    "passwordEncrypted" TEXT,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMP(3) NOT NULL,

    CONSTRAINT "registry_pkey" PRIMARY KEY ("id")
);

CREATE UNIQUE INDEX "registry_name_key" ON "registry"("name");
CREATE INDEX "registry_host_idx" ON "registry"("host");

CREATE TABLE "registry_team" (
    "registryId" TEXT NOT NULL,
    "teamId" TEXT NOT NULL,
    "createdAt" TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "registry_team_pkey" PRIMARY KEY ("registryId","teamId")
);

CREATE INDEX "registry_team_teamId_idx" ON "registry_team"("teamId");

ALTER TABLE "registry_team" ADD CONSTRAINT "registry_team_registryId_fkey" FOREIGN KEY ("registryId") REFERENCES "registry"("id") ON DELETE CASCADE ON UPDATE CASCADE;
ALTER TABLE "registry_team" ADD CONSTRAINT "registry_team_teamId_fkey" FOREIGN KEY ("teamId") REFERENCES "team"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- Managing registries (adding credentials every member of a team will push and pull with)
-- is an administrator's job: built-in Admin only.
UPDATE "role"
SET "permissions" = array_append("permissions", 'registry.manage'),
    "updatedAt" = CURRENT_TIMESTAMP
WHERE "id" = 'role_admin' AND NOT ('registry.manage' = ANY ("permissions"));
