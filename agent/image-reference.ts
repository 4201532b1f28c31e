/**
 * Image references parsed and normalised the way Docker does it: a port of
 * `github.com/distribution/reference` (the grammar in its reference.go and
 * regexp.go, the normalisation in normalize.go) plus the digest checks of
 * `github.com/opencontainers/go-digest`. Shared by the server, the agent and
 * the browser, so it imports nothing from Node.
 *
 *   reference        := name [ ":" tag ] [ "@" digest ]
 *   name             := [domain '/'] remote-name
 *   domain           := host [':' port-number]
 *   host             := domain-name | IPv4address | \[ IPv6address \]
 *   domain-name      := domain-component ['.' domain-component]*
 *   domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
 *   remote-name      := path-component ['/' path-component]*
 *   path-component   := alpha-numeric [separator alpha-numeric]*
 *   alpha-numeric    := /[a-z0-9]+/
 *   separator        := /[_.]|__|[-]+/
 *   tag              := /[\w][\w.-]{0,127}/
 *   digest           := algorithm ":" hex   (sha256: 64 lower-case hex, sha384: 96, sha512: 128)
 *
 * Normalisation (ParseNormalizedNamed): the part before the first `/` is a
 * registry when it contains `.` or `:`, is `localhost`, or has an upper-case
 * letter; otherwise the registry is `docker.io` and a one-component name gets
 * `library/` (an official image). `index.docker.io` is `docker.io`. The whole
 * name (registry included, after normalisation) is at most 255 characters.
 */

export const DEFAULT_REGISTRY = "docker.io";
const LEGACY_DEFAULT_REGISTRY = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
export const NAME_MAX_LENGTH = 255;

// The atoms of distribution/reference's regexp.go, same names, same patterns.
const alphanumeric = "[a-z0-9]+";
const separator = "(?:[._]|__|[-]+)";
const domainNameComponent = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const optionalPort = "(?::[0-9]+)?";
const tagPattern = "[\\w][\\w.-]{0,127}";
const digestPattern = "[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*[:][0-9a-fA-F]{32,}";
const ipv6address = "\\[(?:[a-fA-F0-9:]+)\\]";
const domainName = `${domainNameComponent}(?:\\.${domainNameComponent})*`;
const host = `(?:${domainName}|${ipv6address})`;
const domainAndPort = `${host}${optionalPort}`;
const pathComponent = `${alphanumeric}(?:${separator}${alphanumeric})*`;
const remoteName = `${pathComponent}(?:/${pathComponent})*`;
const namePattern = `(?:${domainAndPort}/)?${remoteName}`;

const REFERENCE = new RegExp(`^(${namePattern})(?::(${tagPattern}))?(?:@(${digestPattern}))?$`);
const ANCHORED_NAME = new RegExp(`^(?:(${domainAndPort})/)?(${remoteName})$`);
const ANCHORED_TAG = new RegExp(`^${tagPattern}$`);
const ANCHORED_DOMAIN = new RegExp(`^${domainAndPort}$`);
const ANCHORED_PATH_COMPONENT = new RegExp(`^${pathComponent}$`);
const ANCHORED_IDENTIFIER = /^[a-f0-9]{64}$/;

/** go-digest's registered algorithms and the length of their hex encoding. */
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

export type ImageReference = {
  /** The registry as written (`docker.io` when none was); case kept. Empty only for the rare name the grammar reads without one. */
  registry: string;
  /** Repository path inside the registry, e.g. `library/busybox`, `team/app`. */
  path: string;
  /** The tag; `latest` when neither a tag nor a digest was given (Docker's TagNameOnly). */
  tag: string | null;
  /** `sha256:<hex>` when pinned by digest. */
  digest: string | null;
  /** `registry/path`, e.g. `docker.io/library/busybox`. */
  name: string;
  /** What `docker images` shows: `busybox`, `team/app`, `localhost:5000/x`. */
  familiarName: string;
  /** The familiar name with its tag and digest, e.g. `busybox:latest`. */
  familiar: string;
  /** Fully qualified: `docker.io/library/busybox:latest`, `host:5000/ns/x:1@sha256:…`. */
  canonical: string;
};

export type ImageReferenceErrorKind =
  | "empty"
  | "hex-id"
  | "uppercase"
  | "too-long"
  | "invalid-domain"
  | "invalid-path"
  | "invalid-tag"
  | "invalid-digest"
  | "unsupported-digest"
  | "invalid-format";

export class ImageReferenceError extends Error {
  readonly kind: ImageReferenceErrorKind;
  readonly input: string;

  constructor(kind: ImageReferenceErrorKind, input: string, message: string) {
    super(message);
    this.name = "ImageReferenceError";
    this.kind = kind;
    this.input = input;
  }
}

export type ParseResult = { ok: true; reference: ImageReference } | { ok: false; error: ImageReferenceError };

/** splitDockerDomain of normalize.go. */
function splitDockerDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf("/");
  const first = slash === -1 ? "" : name.slice(0, slash);
  let domain: string;
  let remainder: string;
  if (slash === -1 || (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)) {
    domain = DEFAULT_REGISTRY;
    remainder = name;
  } else {
    domain = first;
    remainder = name.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_REGISTRY) domain = DEFAULT_REGISTRY;
  if (domain === DEFAULT_REGISTRY && !remainder.includes("/")) remainder = OFFICIAL_PREFIX + remainder;
  return { domain, remainder };
}

/**
 * Says precisely which part breaks the grammar, for a reference the full
 * pattern refused (Docker itself only says "invalid reference format").
 */
function explainInvalid(input: string, domain: string, remainder: string): ImageReferenceError {
  const fail = (kind: ImageReferenceErrorKind, message: string) => new ImageReferenceError(kind, input, `Invalid image reference "${input}": ${message}`);
  const at = remainder.indexOf("@");
  const beforeDigest = at === -1 ? remainder : remainder.slice(0, at);
  const digest = at === -1 ? null : remainder.slice(at + 1);
  const colon = beforeDigest.indexOf(":", beforeDigest.lastIndexOf("/") + 1);
  const hasTag = colon !== -1;
  const path = hasTag ? beforeDigest.slice(0, colon) : beforeDigest;
  const tag = hasTag ? beforeDigest.slice(colon + 1) : null;
  if (domain && !ANCHORED_DOMAIN.test(domain)) {
    return fail("invalid-domain", `the registry "${domain}" is not a host name, IPv4 or [IPv6] address with an optional :port`);
  }
  for (const component of path.split("/")) {
    if (!ANCHORED_PATH_COMPONENT.test(component)) {
      return fail(
        "invalid-path",
        component === ""
          ? "the repository has an empty path component (a leading, trailing or doubled /)"
          : `the repository path component "${component}" must be lower-case letters and digits, separated by one ".", one or two "_", or dashes, and must start and end with a letter or digit`,
      );
    }
  }
  if (tag !== null && !ANCHORED_TAG.test(tag)) {
    return fail(
      "invalid-tag",
      tag === "" ? "the tag after ':' is empty" : `the tag "${tag.length > 40 ? `${tag.slice(0, 40)}…` : tag}" must be 1 to 128 letters, digits, "_", "." or "-" and must not start with "." or "-"`,
    );
  }
  if (digest !== null) {
    return fail("invalid-digest", `the digest "${digest}" must be an algorithm, ":" and at least 32 hex digits (e.g. sha256:<64 hex digits>)`);
  }
  return fail("invalid-format", "it is not [registry/]repository[:tag][@digest]");
}

function checkDigest(input: string, digest: string): ImageReferenceError | null {
  const colon = digest.indexOf(":");
  const algorithm = digest.slice(0, colon);
  const hex = digest.slice(colon + 1);
  const expected = DIGEST_HEX_LENGTH[algorithm];
  if (expected === undefined) {
    return new ImageReferenceError("unsupported-digest", input, `Invalid image reference "${input}": unsupported digest algorithm "${algorithm}" (sha256, sha384 or sha512)`);
  }
  if (!/^[a-f0-9]+$/.test(hex)) {
    return new ImageReferenceError("invalid-digest", input, `Invalid image reference "${input}": the ${algorithm} digest must be lower-case hex`);
  }
  if (hex.length !== expected) {
    return new ImageReferenceError("invalid-digest", input, `Invalid image reference "${input}": a ${algorithm} digest has ${expected} hex digits, this one has ${hex.length}`);
  }
  return null;
}

/** Docker's `ParseNormalizedNamed` followed by `TagNameOnly` (an untagged, undigested name gets `latest`). */
export function parseImageReference(input: string): ParseResult {
  const fail = (kind: ImageReferenceErrorKind, message: string): ParseResult => ({
    ok: false,
    error: new ImageReferenceError(kind, input, `Invalid image reference "${input}": ${message}`),
  });
  if (input === "") return fail("empty", "it is empty");
  if (ANCHORED_IDENTIFIER.test(input)) return fail("hex-id", "a 64-character hex string is an image ID, not a repository name");

  const { domain, remainder } = splitDockerDomain(input);
  const colon = remainder.indexOf(":");
  const remote = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) {
    return fail("uppercase", `the repository name "${remote}" must be lower-case (only the registry host may have capitals)`);
  }

  const full = `${domain}/${remainder}`;
  const match = REFERENCE.exec(full);
  if (!match) {
    if (REFERENCE.test(full.toLowerCase())) return fail("uppercase", "the repository name must be lower-case");
    return { ok: false, error: explainInvalid(input, domain, remainder) };
  }
  const [, fullName = "", tagMatch, digestMatch] = match;
  if (fullName.length > NAME_MAX_LENGTH) {
    return fail("too-long", `the repository name "${fullName.slice(0, 40)}…" is ${fullName.length} characters; at most ${NAME_MAX_LENGTH} (registry included)`);
  }
  const nameMatch = ANCHORED_NAME.exec(fullName);
  const registry = nameMatch?.[1] ?? "";
  const path = nameMatch?.[2] ?? fullName;
  if (digestMatch) {
    const error = checkDigest(input, digestMatch);
    if (error) return { ok: false, error };
  }
  const tag = tagMatch ?? (digestMatch ? null : "latest");
  const digest = digestMatch ?? null;
  const name = registry ? `${registry}/${path}` : path;
  const familiarName = familiarNameOf(registry, path);
  const suffix = `${tag !== null ? `:${tag}` : ""}${digest ? `@${digest}` : ""}`;
  return {
    ok: true,
    reference: { registry, path, tag, digest, name, familiarName, familiar: familiarName + suffix, canonical: name + suffix },
  };
}

/** Throwing form of {@link parseImageReference}. */
export function parseImageReferenceOrThrow(input: string): ImageReference {
  const result = parseImageReference(input);
  if (!result.ok) throw result.error;
  return result.reference;
}

/** FamiliarName of normalize.go: docker.io and a lone `library/` are left out. */
function familiarNameOf(registry: string, path: string): string {
  if (registry !== DEFAULT_REGISTRY) return registry ? `${registry}/${path}` : path;
  const rest = path.startsWith(OFFICIAL_PREFIX) ? path.slice(OFFICIAL_PREFIX.length) : null;
  return rest !== null && !rest.includes("/") ? rest : path;
}

/**
 * The host to speak the registry v2 API to: Docker Hub's API is not at
 * docker.io but at registry-1.docker.io.
 */
export function registryApiHost(registry: string): string {
  return registry === DEFAULT_REGISTRY ? "registry-1.docker.io" : registry;
}

/**
 * A registry address as a user types it (`localhost:5000`, `https://ghcr.io/`,
 * `index.docker.io`) reduced to the registry part of a reference
 * (`localhost:5000`, `ghcr.io`, `docker.io`), or null when it is not one.
 */
export function normalizeRegistryHost(address: string): string | null {
  const host = address.trim().replace(/^[a-z]+:\/\//i, "").replace(/\/(v1|v2)?\/?$/, "");
  if (!host || !ANCHORED_DOMAIN.test(host)) return null;
  return host === LEGACY_DEFAULT_REGISTRY || host === "registry-1.docker.io" ? DEFAULT_REGISTRY : host;
}

const ANCHORED_REMOTE_NAME = new RegExp(`^${remoteName}$`);
const ANCHORED_DIGEST = new RegExp(`^${digestPattern}$`);

/** A repository path as registries name them (`team/app`): lower-case path components joined by "/". */
export function isRepositoryPath(value: string): boolean {
  return value.length <= NAME_MAX_LENGTH && ANCHORED_REMOTE_NAME.test(value);
}

/** A tag (`1.0`, `latest`) or a digest (`sha256:…`): what follows a repository in a manifest URL. */
export function isTagOrDigest(value: string): boolean {
  return ANCHORED_TAG.test(value) || (ANCHORED_DIGEST.test(value) && checkDigest(value, value.slice(0)) === null);
}
