-- The fleet-wide container list (server/services/fleet-containers.ts, measured by bench/fleet-list.ts).
-- Prisma cannot declare expression indexes with a collation, so they are written here by hand.
-- Every sort is a keyset in byte order (COLLATE "C"): the first page and a deep one are both an
-- index range scan that stops after one page, for any caller and any filter that is not too rare.

-- Sort by name (the default), by state, by image, by creation time; the unique tail makes the keyset total.
CREATE INDEX "container_fleet_name_idx" ON "container" ((name COLLATE "C"), ("hostId" COLLATE "C"), ("dockerId" COLLATE "C"));
CREATE INDEX "container_fleet_state_idx" ON "container" ((state COLLATE "C"), (name COLLATE "C"), ("hostId" COLLATE "C"), ("dockerId" COLLATE "C"));
CREATE INDEX "container_fleet_image_idx" ON "container" ((image COLLATE "C"), (name COLLATE "C"), ("hostId" COLLATE "C"), ("dockerId" COLLATE "C"));
CREATE INDEX "container_fleet_created_idx" ON "container" ("createdAt", ("hostId" COLLATE "C"), ("dockerId" COLLATE "C"));

-- Label (has key / key=value) and published-port filters are containment tests on jsonb.
-- labels: the default jsonb_ops (key existence `?` as well as `@>`).
CREATE INDEX "container_labels_idx" ON "container" USING GIN ("labels");
CREATE INDEX "container_ports_idx" ON "container" USING GIN ("ports" jsonb_path_ops);
