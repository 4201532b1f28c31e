/**
 * The better-auth endpoints Berth serves: the ones its pages use. Everything
 * else better-auth offers over HTTP — its admin plugin (set-role,
 * set-user-password, impersonate-user, revoke-user-sessions, remove-user…),
 * update-user, list/revoke-sessions — would change users, roles, passwords and
 * sessions around Berth's own procedures: no access rule from the policy, no
 * audit row, no notice to the user's open streams. Deny by default: those
 * answer 404. Roles, users and sessions are managed through tRPC (`users.*`,
 * `account.*`), where every rule, audit and notice applies.
 */
export const SERVED_AUTH_PATHS: readonly string[] = ["/api/auth/sign-in/email", "/api/auth/sign-out", "/api/auth/change-password", "/api/auth/get-session"];
const SERVED = new Set(SERVED_AUTH_PATHS);

export function isServedAuthPath(url: string): boolean {
  return SERVED.has(url.split("?")[0]!.replace(/\/+$/, ""));
}
