/**
 * A small client for the registry HTTP API v2 (the distribution spec): ping,
 * catalog, tags, manifests and config blobs. Authentication follows the
 * registry's own challenge, as Docker does: a request goes out without
 * credentials; on 401 the `WWW-Authenticate` header says either `Basic`
 * (repeat with basic auth) or `Bearer realm=…,service=…,scope=…` (ask the
 * realm for a token with basic auth, repeat with the token). Answers are
 * size-capped and time-limited; every failure is an AppError saying what
 * went wrong in words (wrong password, unreachable, not found).
 */
import { createHash } from "node:crypto";
import { AppError } from "../errors.ts";
import { storableText } from "../text.ts";
import { isInternalHost } from "./network-address.ts";

export type RegistryCredentials = { username: string; password: string } | null;

export type RegistryTarget = {
  /** `http(s)://host[:port]` */
  url: string;
  credentials: RegistryCredentials;
};

const TIMEOUT_MS = 10_000;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_REDIRECTS = 5;
/** A registry's own words are shown to users and stored with update checks: a sentence, not a page. */
const MAX_DETAIL_CHARS = 300;

/** What Docker sends when it asks for a manifest: images (Docker v2, OCI) and multi-platform indexes. */
export const MANIFEST_ACCEPT = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
  "application/vnd.oci.image.index.v1+json",
].join(", ");

type Challenge = { scheme: "basic" } | { scheme: "bearer"; realm: string; service?: string; scope?: string };

/** Parses `Bearer realm="…",service="…",scope="…"` / `Basic realm="…"`. */
export function parseChallenge(header: string | null): Challenge | null {
  if (!header) return null;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!match) return null;
  const scheme = match[1]!.toLowerCase();
  if (scheme === "basic") return { scheme: "basic" };
  if (scheme !== "bearer") return null;
  const params: Record<string, string> = {};
  for (const [, key, quoted, bare] of match[2]!.matchAll(/(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))/g)) {
    params[key!.toLowerCase()] = quoted !== undefined ? quoted.replace(/\\(.)/g, "$1") : bare!;
  }
  if (!params.realm) return null;
  return { scheme: "bearer", realm: params.realm, service: params.service, scope: params.scope };
}

function basic(credentials: NonNullable<RegistryCredentials>): string {
  return "Basic " + Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64");
}

function describeFetchError(error: unknown, url: string): AppError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  if ((error as Error).name === "TimeoutError") return new AppError("TIMEOUT", `The registry at ${url} did not answer within ${TIMEOUT_MS / 1000} s`);
  const why = cause?.code ?? cause?.message ?? (error as Error).message;
  return new AppError("PRECONDITION_FAILED", `Could not reach the registry at ${url}: ${why}`);
}

async function readCapped(response: Response): Promise<Buffer> {
  const reader = response.body?.getReader();
  if (!reader) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > MAX_BODY_BYTES) {
      await reader.cancel();
      throw new AppError("PRECONDITION_FAILED", `The registry's answer is larger than ${MAX_BODY_BYTES / 1024 / 1024} MiB`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * The registry's own error text (`{"errors":[{"code","message"}]}`), if it
 * sent one: one line, control characters out, cut to a sentence's length.
 */
function registryErrorText(body: Buffer): string | null {
  let text: unknown;
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { errors?: Array<{ code?: unknown; message?: unknown }>; details?: unknown };
    const first = parsed.errors?.[0];
    text = first ? [first.code, first.message].filter((part) => typeof part === "string" && part).join(": ") : parsed.details;
  } catch {
    return null;
  }
  if (typeof text !== "string" || !text) return null;
  const line = storableText(text).replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
  return line.length > MAX_DETAIL_CHARS ? `${line.slice(0, MAX_DETAIL_CHARS)}…` : line;
}

/**
 * May the server follow a registry from its address to `next` (its token
 * service, a redirect)? Within the registry's own origin, always. Elsewhere,
 * not from https down to http, and not from a registry on a public address
 * into the server's own networks: anyone can run a registry and tag an image
 * with it, and it must not make the server fetch an internal service (a
 * token service handing out tokens, a metadata endpoint) and pass on what it
 * answers.
 */
export async function assertMayFollow(registry: URL, next: URL, what: string): Promise<void> {
  if (next.origin === registry.origin) return;
  if (next.protocol !== "https:" && next.protocol !== "http:") throw new AppError("PRECONDITION_FAILED", `The registry at ${registry.host} named ${what} that is not http(s): ${next.protocol}`);
  if (registry.protocol === "https:" && next.protocol !== "https:") {
    throw new AppError("PRECONDITION_FAILED", `The registry at ${registry.host} sent Berth to ${what} over plain http (${next.host}); refused for a registry served over https`);
  }
  if ((await isInternalHost(next.hostname)) && !(await isInternalHost(registry.hostname))) {
    throw new AppError("PRECONDITION_FAILED", `The registry at ${registry.host} sent Berth to ${what} on an internal address (${next.host}); refused`);
  }
}

/**
 * fetch, following redirects one by one so each hop is checked (assertMayFollow);
 * credentials are not carried to another origin.
 */
async function fetchFollowing(url: URL, init: { method: string; headers: Record<string, string> }, registry: URL): Promise<Response> {
  let current = url;
  let { method, headers } = init;
  for (let hop = 0; ; hop++) {
    const response = await fetch(current, { method, headers, signal: AbortSignal.timeout(TIMEOUT_MS), redirect: "manual" });
    const location = response.headers.get("location");
    if (response.status < 300 || response.status >= 400 || response.status === 304 || !location) return response;
    await response.body?.cancel();
    if (hop >= MAX_REDIRECTS) throw new AppError("PRECONDITION_FAILED", `The registry at ${registry.host} redirected more than ${MAX_REDIRECTS} times`);
    let next: URL;
    try {
      next = new URL(location, current);
    } catch {
      throw new AppError("PRECONDITION_FAILED", `The registry at ${registry.host} redirected to something that is not a URL`);
    }
    await assertMayFollow(registry, next, "a redirect");
    if (next.origin !== current.origin) {
      const { authorization: _dropped, ...rest } = headers;
      headers = rest;
    }
    if (response.status === 303) method = "GET";
    current = next;
  }
}

function wrongCredentials(target: RegistryTarget, detail: string | null): AppError {
  return new AppError(
    "PRECONDITION_FAILED",
    target.credentials
      ? `The registry refused the credentials: wrong username or password${detail ? ` (${detail})` : ""}`
      : `The registry needs credentials: add a username and password${detail ? ` (${detail})` : ""}`,
  );
}

async function fetchToken(target: RegistryTarget, challenge: Extract<Challenge, { scheme: "bearer" }>, scope: string | undefined): Promise<string> {
  let realm: URL;
  try {
    realm = new URL(challenge.realm);
  } catch {
    throw new AppError("PRECONDITION_FAILED", `The registry named a token service that is not a URL: ${challenge.realm}`);
  }
  if (realm.protocol !== "https:" && realm.protocol !== "http:") throw new AppError("PRECONDITION_FAILED", `The registry's token service must be http(s): ${challenge.realm}`);
  const registry = new URL(target.url);
  await assertMayFollow(registry, realm, "its token service");
  if (challenge.service) realm.searchParams.set("service", challenge.service);
  for (const s of (scope ?? challenge.scope ?? "").split(" ").filter(Boolean)) realm.searchParams.append("scope", s);
  if (target.credentials) realm.searchParams.set("account", target.credentials.username);
  let response: Response;
  try {
    response = await fetchFollowing(realm, { method: "GET", headers: target.credentials ? { authorization: basic(target.credentials) } : {} }, registry);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw describeFetchError(error, realm.origin);
  }
  const body = await readCapped(response);
  if (response.status === 401 || response.status === 403) throw wrongCredentials(target, registryErrorText(body));
  if (!response.ok) throw new AppError("PRECONDITION_FAILED", `The registry's token service answered HTTP ${response.status}${registryErrorText(body) ? `: ${registryErrorText(body)}` : ""}`);
  try {
    const parsed = JSON.parse(body.toString("utf8")) as { token?: string; access_token?: string };
    const token = parsed.token ?? parsed.access_token;
    if (typeof token === "string" && token) return token;
  } catch {
    // fall through
  }
  throw new AppError("PRECONDITION_FAILED", "The registry's token service answered without a token");
}

export type RegistryResponse = { status: number; headers: Headers; body: Buffer };

/**
 * GET `path` (`/v2/...`) with the challenge flow. `scope` is the token scope
 * to ask for (e.g. `repository:team/app:pull`); the registry's challenge
 * usually names it too.
 */
export async function registryGet(target: RegistryTarget, path: string, opts: { accept?: string; scope?: string; method?: "GET" | "HEAD" } = {}): Promise<RegistryResponse> {
  const url = new URL(path, target.url.endsWith("/") ? target.url : `${target.url}/`);
  const registry = new URL(target.url);
  const send = async (authorization?: string) => {
    const headers: Record<string, string> = {};
    if (opts.accept) headers.accept = opts.accept;
    if (authorization) headers.authorization = authorization;
    try {
      const response = await fetchFollowing(url, { method: opts.method ?? "GET", headers }, registry);
      return { status: response.status, headers: response.headers, body: await readCapped(response) };
    } catch (error) {
      if (error instanceof AppError) throw error;
      throw describeFetchError(error, target.url);
    }
  };
  const first = await send();
  if (first.status !== 401) return first;
  const challenge = parseChallenge(first.headers.get("www-authenticate"));
  if (!challenge) throw new AppError("PRECONDITION_FAILED", "The registry asked for authentication it does not describe (no Basic or Bearer challenge)");
  if (challenge.scheme === "basic") {
    if (!target.credentials) throw wrongCredentials(target, registryErrorText(first.body));
    const second = await send(basic(target.credentials));
    if (second.status === 401) throw wrongCredentials(target, registryErrorText(second.body));
    return second;
  }
  const token = await fetchToken(target, challenge, opts.scope);
  const second = await send(`Bearer ${token}`);
  if (second.status === 401) throw wrongCredentials(target, registryErrorText(second.body));
  return second;
}

function failUnlessOk(response: RegistryResponse, what: string): void {
  if (response.status >= 200 && response.status < 300) return;
  const detail = registryErrorText(response.body);
  if (response.status === 404) throw new AppError("NOT_FOUND", `${what} was not found in the registry${detail ? ` (${detail})` : ""}`);
  if (response.status === 403) throw new AppError("PRECONDITION_FAILED", `The registry denied access to ${what}${detail ? ` (${detail})` : ""}`);
  throw new AppError("PRECONDITION_FAILED", `The registry answered HTTP ${response.status} for ${what}${detail ? `: ${detail}` : ""}`);
}

function json<T>(response: RegistryResponse, what: string): T {
  try {
    return JSON.parse(response.body.toString("utf8")) as T;
  } catch {
    throw new AppError("PRECONDITION_FAILED", `The registry's answer for ${what} is not JSON`);
  }
}

/** `/v2/` answers: the address speaks the registry API and the credentials are accepted. */
export async function pingRegistry(target: RegistryTarget): Promise<{ apiVersion: string | null }> {
  const response = await registryGet(target, "/v2/");
  if (response.status === 404) throw new AppError("PRECONDITION_FAILED", `${target.url} does not serve the registry API v2 (/v2/ answered 404)`);
  failUnlessOk(response, "the API root");
  return { apiVersion: response.headers.get("docker-distribution-api-version") };
}

/** The `last` cursor of a `Link: </v2/_catalog?last=x&n=100>; rel="next"` header. */
function nextCursor(headers: Headers): string | null {
  const link = headers.get("link");
  // A registry's Link names one next page; a longer one is not parsed (the pattern would be slow on kilobytes of '<').
  if (!link || link.length > 2048) return null;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(link);
  if (!match) return null;
  return new URL(match[1]!, "http://x").searchParams.get("last");
}

export async function listRepositories(target: RegistryTarget, opts: { last?: string; limit: number }): Promise<{ repositories: string[]; next: string | null }> {
  const query = new URLSearchParams({ n: String(opts.limit) });
  if (opts.last) query.set("last", opts.last);
  const response = await registryGet(target, `/v2/_catalog?${query}`, { scope: "registry:catalog:*" });
  failUnlessOk(response, "the repository list");
  const body = json<{ repositories?: unknown }>(response, "the repository list");
  const repositories = Array.isArray(body.repositories) ? body.repositories.filter((r): r is string => typeof r === "string") : [];
  return { repositories, next: nextCursor(response.headers) };
}

export async function listTags(target: RegistryTarget, repository: string, opts: { last?: string; limit: number }): Promise<{ tags: string[]; next: string | null }> {
  const query = new URLSearchParams({ n: String(opts.limit) });
  if (opts.last) query.set("last", opts.last);
  const response = await registryGet(target, `/v2/${repository}/tags/list?${query}`, { scope: `repository:${repository}:pull` });
  failUnlessOk(response, `repository ${repository}`);
  const body = json<{ tags?: unknown }>(response, `the tags of ${repository}`);
  const tags = Array.isArray(body.tags) ? body.tags.filter((t): t is string => typeof t === "string") : [];
  return { tags, next: nextCursor(response.headers) };
}

type Descriptor = { mediaType?: string; digest?: string; size?: number; platform?: { os?: string; architecture?: string; variant?: string } };

export type ManifestView = {
  digest: string;
  mediaType: string;
  /** Bytes of the manifest itself. */
  size: number;
  kind: "image" | "index";
  config: { digest: string; size: number } | null;
  layers: Array<{ digest: string; size: number; mediaType: string }>;
  /** Sum of the layers' compressed sizes (what a pull downloads). */
  totalSize: number;
  /** From the image config blob, when the registry serves it. */
  os: string | null;
  architecture: string | null;
  created: string | null;
  /** A multi-platform index lists its images instead of layers. */
  manifests: Array<{ digest: string; size: number; mediaType: string; platform: string | null }>;
};

export async function getManifest(target: RegistryTarget, repository: string, reference: string): Promise<ManifestView> {
  const scope = `repository:${repository}:pull`;
  const response = await registryGet(target, `/v2/${repository}/manifests/${reference}`, { accept: MANIFEST_ACCEPT, scope });
  failUnlessOk(response, `${repository}:${reference}`);
  const body = json<{ mediaType?: string; schemaVersion?: number; config?: Descriptor; layers?: Descriptor[]; manifests?: Descriptor[] }>(response, "the manifest");
  const mediaType = body.mediaType ?? response.headers.get("content-type")?.split(";")[0] ?? "unknown";
  const digest = response.headers.get("docker-content-digest") ?? `sha256:${createHash("sha256").update(response.body).digest("hex")}`;
  const layers = (body.layers ?? []).map((l) => ({ digest: String(l.digest ?? ""), size: Number(l.size ?? 0), mediaType: String(l.mediaType ?? "") }));
  const manifests = (body.manifests ?? []).map((m) => ({
    digest: String(m.digest ?? ""),
    size: Number(m.size ?? 0),
    mediaType: String(m.mediaType ?? ""),
    platform: m.platform ? [m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join("/") : null,
  }));
  const config = body.config?.digest ? { digest: body.config.digest, size: Number(body.config.size ?? 0) } : null;
  let imageConfig: { os?: string; architecture?: string; created?: string } | null = null;
  if (config && config.size <= MAX_BODY_BYTES) {
    const blob = await registryGet(target, `/v2/${repository}/blobs/${config.digest}`, { scope }).catch(() => null);
    if (blob && blob.status === 200) imageConfig = (() => { try { return JSON.parse(blob.body.toString("utf8")); } catch { return null; } })();
  }
  return {
    digest,
    mediaType,
    size: response.body.length,
    kind: manifests.length > 0 || /index|list/.test(mediaType) ? "index" : "image",
    config,
    layers,
    totalSize: layers.reduce((sum, l) => sum + l.size, 0),
    os: typeof imageConfig?.os === "string" ? imageConfig.os : null,
    architecture: typeof imageConfig?.architecture === "string" ? imageConfig.architecture : null,
    created: typeof imageConfig?.created === "string" ? imageConfig.created : null,
    manifests,
  };
}

/**
 * The registry's current digest for `repository:reference` (what `docker pull`
 * would fetch): `Docker-Content-Digest` of a HEAD, as Docker itself asks; a
 * registry that omits the header is asked with GET and its answer hashed.
 */
export async function manifestDigest(target: RegistryTarget, repository: string, reference: string): Promise<string> {
  const path = `/v2/${repository}/manifests/${reference}`;
  const opts = { accept: MANIFEST_ACCEPT, scope: `repository:${repository}:pull` };
  const head = await registryGet(target, path, { ...opts, method: "HEAD" });
  failUnlessOk(head, `${repository}:${reference}`);
  const digest = head.headers.get("docker-content-digest");
  if (digest) return digest;
  const full = await registryGet(target, path, opts);
  failUnlessOk(full, `${repository}:${reference}`);
  return full.headers.get("docker-content-digest") ?? `sha256:${createHash("sha256").update(full.body).digest("hex")}`;
}

/** A failure to reach the registry at all (no answer, refused, timed out), as opposed to an answer that says no. */
export function isUnreachable(error: unknown): boolean {
  return error instanceof AppError && (error.code === "TIMEOUT" || error.message.startsWith("Could not reach the registry"));
}
