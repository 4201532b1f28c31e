/**
 * Berth's permissions. A role is data: a named set of these strings. A user's
 * permissions on a host are the union of their roles in the teams the host
 * belongs to; a global admin holds all of them everywhere.
 */
import { z } from "zod";

export const PERMISSIONS = [
  "host.view",
  "container.logs",
  "container.operate",
  "container.exec",
  "container.create",
  "container.privileged",
  "container.commit",
  "image.pull",
  "image.push",
  "image.remove",
  "image.build",
  "host.manage",
  "team.manage",
  "audit.view",
  "registry.manage",
] as const;

export type Permission = (typeof PERMISSIONS)[number];
export const ZPermission = z.enum(PERMISSIONS);

export const PERMISSION_LABELS: Record<Permission, string> = {
  "host.view": "See hosts, containers and images",
  "container.logs": "Read containers' logs",
  "container.operate": "Start, stop, restart, kill, pause and rename containers",
  "container.exec": "Open terminals in containers",
  "container.create": "Create and remove containers, change their limits and restart policy",
  "container.privileged": "Root-equivalent container options: privileged, capabilities, devices, host namespaces, host bind mounts",
  "container.commit": "Commit containers to new images",
  "image.pull": "Pull images",
  "image.push": "Push images to registries (tagging them for it)",
  "image.remove": "Untag, remove and prune images",
  "image.build": "Build images from a Dockerfile and an uploaded context",
  "host.manage": "Manage hosts: join tokens, revoke agents",
  "team.manage": "Manage the team's members",
  "audit.view": "Review the team's audit trail",
  "registry.manage": "Add, change and remove the team's image registries and their credentials",
};

export const ALL_PERMISSIONS: ReadonlySet<Permission> = new Set(PERMISSIONS);
