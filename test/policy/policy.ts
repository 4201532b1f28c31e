/**
 * Berth's authorization policy, written down once, by hand — NOT derived from
 * the code. The authorization matrix (test/integration/authorization.test.ts)
 * calls every entry point below as every kind of caller and compares what the
 * server does with what this table says; it fails when an entry point of the
 * code is missing here, when a row here names nothing in the code, and when
 * the code lets a caller through that this table refuses (or the reverse).
 *
 * Adding a procedure, socket event or HTTP route = adding ONE row here.
 *
 * Rules:
 *   public              anyone, signed in or not
 *   authed              any signed-in caller: browser session or API token (what they see is scoped by the service)
 *   session             a signed-in browser session only; API tokens are refused (account management)
 *   admin               global admins (a session, or an API token created with "all of my permissions")
 *   admin+session       global admins, through a browser session only
 *   host:<permission>   the permission on the host named by the input's hostId
 *   team:<permission>   the permission in the team named by the input's teamId
 *   registry:<permission> the permission in a team the registry named by the input's registryId is shared with
 *   items:host          any signed-in caller may call it; the input lists items each naming its own host,
 *                       and every item is authorized on its host by the rule BULK_ACTION_POLICY gives its
 *                       action (an item the caller may not act on answers FORBIDDEN and is not touched)
 */
import type { Permission } from "../../server/auth/permissions.ts";

export type PolicyRule =
  | "public"
  | "authed"
  | "session"
  | "admin"
  | "admin+session"
  | "items:host"
  | `host:${Permission}`
  | `team:${Permission}`
  | `registry:${Permission}`;

/** Every tRPC procedure of server/routers/_app.ts, by path. */
export const PROCEDURE_POLICY: Record<string, PolicyRule> = {
  "auth.setupStatus": "public",
  "auth.setup": "public",
  "auth.me": "public", // answers null to an anonymous caller (signed-out pages, no 401 in the console),

  "account.sessions": "session",
  "account.revokeSession": "session",
  "account.tokens": "session",
  "account.createToken": "session",
  "account.revokeToken": "session",

  "users.list": "admin",
  "users.invite": "admin",
  "users.setGlobalAdmin": "admin",
  "users.remove": "admin",
  "users.sessionsOf": "admin+session",
  "users.revokeSessionOf": "admin+session",

  "teams.list": "authed",
  "teams.byId": "team:team.manage",
  "teams.create": "admin",
  "teams.remove": "admin",
  "teams.setMember": "team:team.manage",
  "teams.removeMember": "team:team.manage",

  "roles.list": "authed",
  "roles.create": "admin",
  "roles.update": "admin",
  "roles.remove": "admin",

  "hosts.list": "authed",
  "hosts.byId": "host:host.view",
  "hosts.create": "admin",
  "hosts.createJoinToken": "host:host.manage",
  "hosts.joinTarget": "host:host.manage",
  "hosts.revoke": "host:host.manage",
  "hosts.setBindPaths": "host:host.manage",
  "hosts.remove": "admin",
  "hosts.share": "admin",
  "hosts.unshare": "admin",
  "hosts.onChange": "authed",

  "containers.list": "host:host.view",
  "containers.byId": "host:host.view",
  "containers.start": "host:container.operate",
  "containers.stop": "host:container.operate",
  "containers.restart": "host:container.operate",
  "containers.kill": "host:container.operate",
  "containers.pause": "host:container.operate",
  "containers.unpause": "host:container.operate",
  "containers.rename": "host:container.operate",
  "containers.remove": "host:container.create",
  "containers.update": "host:container.create",
  "containers.fleet": "authed", // only hosts the caller may view (host.view via their teams; global admins all)
  "containers.bulk": "items:host",
  "containers.create": "host:container.create",
  "containers.duplicate": "host:container.create",
  "containers.recreate": "host:container.create",
  "containers.spec": "host:container.create",
  "containers.top": "host:host.view",
  "containers.changes": "host:host.view",
  "containers.layerSize": "host:host.view",
  "containers.history": "host:host.view",
  "containers.removed": "host:host.view",
  "containers.commit": "host:container.commit",
  "containers.searchLogs": "host:container.logs",

  "images.list": "host:host.view",
  "images.layers": "host:host.view",
  "images.fleet": "authed", // only hosts the caller may view (host.view via their teams; global admins all)
  "images.checkUpdates": "host:host.view", // reads registry digests only; the result is shown to everyone who sees the host
  "hosts.diskUsage": "host:host.view",
  "images.tag": "host:image.remove", // a tag can be moved off the image it named: an untag in effect
  "images.untag": "host:image.remove",
  "images.remove": "host:image.remove",
  "images.prunePreview": "host:image.remove",
  "images.prune": "host:image.remove",

  "registries.list": "authed", // only registries shared with the caller's teams (global admins all); never a password
  "registries.byId": "registry:image.pull",
  "registries.create": "team:registry.manage",
  "registries.update": "registry:registry.manage",
  "registries.remove": "registry:registry.manage",
  "registries.share": "team:registry.manage", // and registry.manage on the registry itself (checked by the service)
  "registries.unshare": "team:registry.manage", // and registry.manage on the registry itself (checked by the service)
  "registries.test": "registry:registry.manage",
  "registries.repositories": "registry:image.pull",
  "registries.tags": "registry:image.pull",
  "registries.manifest": "registry:image.pull",

  "audit.list": "authed",
  "audit.byId": "authed",
  "audit.verify": "admin",
  "audit.prune": "admin",
  "audit.onEvent": "authed",
  "terminals.session": "authed",
  "terminals.settings": "admin",
  "terminals.setRecordInput": "admin+session",
};

/** The per-item rule of each `containers.bulk` action (checked on each item's own host). */
export const BULK_ACTION_POLICY: Record<string, `host:${Permission}`> = {
  start: "host:container.operate",
  stop: "host:container.operate",
  restart: "host:container.operate",
  kill: "host:container.operate",
  pause: "host:container.operate",
  unpause: "host:container.operate",
  remove: "host:container.create",
};

/** Every browser socket event of server/gateway/browser-hub.ts (`browserEvents`). */
export const SOCKET_EVENT_POLICY: Record<string, PolicyRule> = {
  "logs:open": "host:container.logs",
  "logs:close": "authed",
  "logs:ack": "authed",
  "stats:open": "host:host.view",
  "stats:close": "authed",
  "terminal:open": "host:container.exec",
  // Watching needs container.logs; typing into the main process also needs container.exec (checked inside).
  "terminal:attach": "host:container.logs",
  "terminal:input": "authed",
  "terminal:resize": "authed",
  "terminal:ack": "authed",
  "terminal:close": "authed",
  "image:pull": "host:image.pull",
  "image:pull:ack": "authed",
  "image:pull:cancel": "authed",
  "image:push": "host:image.push",
  "image:push:ack": "authed",
  "image:push:cancel": "authed",
  "image:build": "host:image.build",
  "image:build:ack": "authed",
  "image:build:cancel": "authed",
};

/**
 * Every HTTP route served by server/main.ts (`httpRoutes` in
 * server/gateway/http/routes.ts) besides tRPC (above), better-auth (/api/auth/*)
 * and the Next.js pages.
 */
export const HTTP_ROUTE_POLICY: Record<string, PolicyRule> = {
  "GET /api/audit/export": "authed",
  "GET /api/logs/download": "host:container.logs",
  // Whoever may see the session's audit event; anyone else gets 404.
  "GET /api/terminal-recording": "authed",
  "POST /api/build-context": "host:image.build",
};

/**
 * The better-auth endpoints Berth serves (server/auth/served-paths.ts); every
 * other /api/auth/* path answers 404. These authenticate by the session cookie
 * only (no API token: better-auth has no bearer plugin here).
 */
export const AUTH_PATH_POLICY: Record<string, PolicyRule> = {
  "/api/auth/sign-in/email": "public",
  "/api/auth/sign-out": "session",
  "/api/auth/change-password": "session",
  "/api/auth/get-session": "public",
};
