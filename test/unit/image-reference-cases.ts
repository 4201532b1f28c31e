/**
 * Image references and what Docker makes of them, written by hand from the
 * grammar of github.com/distribution/reference (reference.go, normalize.go)
 * and go-digest — never from agent/image-reference.ts. Used by the unit test
 * (test/unit/image-reference.test.ts) and, for the rows marked `oracle`, by
 * test/integration/image-reference-oracle.test.ts against the real Docker CLI
 * and dockerd.
 *
 * `oracle`: "tag" = `docker tag` accepts it (valid) and dockerd lists it as
 * `familiar` in RepoTags, or refuses it (invalid); "inspect" = dockerd parses
 * it in `docker image inspect` (digests cannot be tagged). Rows without it
 * are where dockerd 20.10's older copy of the library disagrees with the
 * current grammar (a registry written in capitals, IPv6 registries) or where
 * a tag would be pointless (length limits).
 */
import type { ImageReferenceErrorKind } from "../../agent/image-reference.ts";

export const HEX = "0123456789abcdef".repeat(4);
export const DIGEST = `sha256:${HEX}`;

export type ValidCase = {
  input: string;
  registry: string;
  path: string;
  tag: string | null;
  digest: string | null;
  familiar: string;
  canonical: string;
  oracle?: "tag" | "inspect";
};

export type InvalidCase = { input: string; kind: ImageReferenceErrorKind; message: RegExp; oracle?: "tag" | "inspect" };

export const VALID: ValidCase[] = [
  // Docker Hub: default registry, library/ for official images, latest by default.
  { input: "busybox", registry: "docker.io", path: "library/busybox", tag: "latest", digest: null, familiar: "busybox:latest", canonical: "docker.io/library/busybox:latest", oracle: "tag" },
  { input: "busybox:1.36", registry: "docker.io", path: "library/busybox", tag: "1.36", digest: null, familiar: "busybox:1.36", canonical: "docker.io/library/busybox:1.36", oracle: "tag" },
  { input: "library/busybox", registry: "docker.io", path: "library/busybox", tag: "latest", digest: null, familiar: "busybox:latest", canonical: "docker.io/library/busybox:latest", oracle: "tag" },
  { input: "docker.io/busybox", registry: "docker.io", path: "library/busybox", tag: "latest", digest: null, familiar: "busybox:latest", canonical: "docker.io/library/busybox:latest", oracle: "tag" },
  { input: "docker.io/library/busybox:latest", registry: "docker.io", path: "library/busybox", tag: "latest", digest: null, familiar: "busybox:latest", canonical: "docker.io/library/busybox:latest", oracle: "tag" },
  { input: "index.docker.io/busybox", registry: "docker.io", path: "library/busybox", tag: "latest", digest: null, familiar: "busybox:latest", canonical: "docker.io/library/busybox:latest", oracle: "tag" },
  { input: "index.docker.io/team/app:v1", registry: "docker.io", path: "team/app", tag: "v1", digest: null, familiar: "team/app:v1", canonical: "docker.io/team/app:v1", oracle: "tag" },
  { input: "team/app", registry: "docker.io", path: "team/app", tag: "latest", digest: null, familiar: "team/app:latest", canonical: "docker.io/team/app:latest", oracle: "tag" },
  { input: "a/b/c/d", registry: "docker.io", path: "a/b/c/d", tag: "latest", digest: null, familiar: "a/b/c/d:latest", canonical: "docker.io/a/b/c/d:latest", oracle: "tag" },
  // library/ is only dropped from a one-component name.
  { input: "docker.io/library/a/b", registry: "docker.io", path: "library/a/b", tag: "latest", digest: null, familiar: "library/a/b:latest", canonical: "docker.io/library/a/b:latest", oracle: "tag" },
  // Registries: a first component with "." or ":" or "localhost".
  { input: "localhost/app", registry: "localhost", path: "app", tag: "latest", digest: null, familiar: "localhost/app:latest", canonical: "localhost/app:latest", oracle: "tag" },
  { input: "localhost:5000/app", registry: "localhost:5000", path: "app", tag: "latest", digest: null, familiar: "localhost:5000/app:latest", canonical: "localhost:5000/app:latest", oracle: "tag" },
  { input: "localhost:5000/team/app:1.0", registry: "localhost:5000", path: "team/app", tag: "1.0", digest: null, familiar: "localhost:5000/team/app:1.0", canonical: "localhost:5000/team/app:1.0", oracle: "tag" },
  { input: "127.0.0.1:5000/team/busybox:1.0", registry: "127.0.0.1:5000", path: "team/busybox", tag: "1.0", digest: null, familiar: "127.0.0.1:5000/team/busybox:1.0", canonical: "127.0.0.1:5000/team/busybox:1.0", oracle: "tag" },
  { input: "registry.example.com/ns/app:2", registry: "registry.example.com", path: "ns/app", tag: "2", digest: null, familiar: "registry.example.com/ns/app:2", canonical: "registry.example.com/ns/app:2", oracle: "tag" },
  // registry-1.docker.io is not folded into docker.io by the reference library (only index.docker.io is).
  { input: "registry-1.docker.io/library/busybox", registry: "registry-1.docker.io", path: "library/busybox", tag: "latest", digest: null, familiar: "registry-1.docker.io/library/busybox:latest", canonical: "registry-1.docker.io/library/busybox:latest", oracle: "tag" },
  // The registry may have capitals; the repository may not.
  { input: "Example.COM/ns/app", registry: "Example.COM", path: "ns/app", tag: "latest", digest: null, familiar: "Example.COM/ns/app:latest", canonical: "Example.COM/ns/app:latest", oracle: "tag" },
  // A capital in the first component makes it a registry (current grammar; dockerd 20.10 refuses it).
  { input: "Foo/bar", registry: "Foo", path: "bar", tag: "latest", digest: null, familiar: "Foo/bar:latest", canonical: "Foo/bar:latest" },
  { input: "Docker.io/foo", registry: "Docker.io", path: "foo", tag: "latest", digest: null, familiar: "Docker.io/foo:latest", canonical: "Docker.io/foo:latest", oracle: "tag" },
  { input: "[::1]:5000/app", registry: "[::1]:5000", path: "app", tag: "latest", digest: null, familiar: "[::1]:5000/app:latest", canonical: "[::1]:5000/app:latest" },
  { input: "[2001:db8::1]/app:1", registry: "[2001:db8::1]", path: "app", tag: "1", digest: null, familiar: "[2001:db8::1]/app:1", canonical: "[2001:db8::1]/app:1" },
  // Digests: no latest added; tag and digest may both be given.
  { input: `busybox@${DIGEST}`, registry: "docker.io", path: "library/busybox", tag: null, digest: DIGEST, familiar: `busybox@${DIGEST}`, canonical: `docker.io/library/busybox@${DIGEST}`, oracle: "inspect" },
  { input: `example.com:8443/x@${DIGEST}`, registry: "example.com:8443", path: "x", tag: null, digest: DIGEST, familiar: `example.com:8443/x@${DIGEST}`, canonical: `example.com:8443/x@${DIGEST}`, oracle: "inspect" },
  { input: `host:5000/ns/x:tag@${DIGEST}`, registry: "host:5000", path: "ns/x", tag: "tag", digest: DIGEST, familiar: `host:5000/ns/x:tag@${DIGEST}`, canonical: `host:5000/ns/x:tag@${DIGEST}`, oracle: "inspect" },
  { input: `app@sha512:${HEX}${HEX}`, registry: "docker.io", path: "library/app", tag: null, digest: `sha512:${HEX}${HEX}`, familiar: `app@sha512:${HEX}${HEX}`, canonical: `docker.io/library/app@sha512:${HEX}${HEX}`, oracle: "inspect" },
  // Without a "/", nothing is a registry: "localhost:5000" is the official image "localhost" tagged 5000.
  { input: "localhost", registry: "docker.io", path: "library/localhost", tag: "latest", digest: null, familiar: "localhost:latest", canonical: "docker.io/library/localhost:latest", oracle: "tag" },
  { input: "localhost:5000", registry: "docker.io", path: "library/localhost", tag: "5000", digest: null, familiar: "localhost:5000", canonical: "docker.io/library/localhost:5000", oracle: "tag" },
  { input: "example.com", registry: "docker.io", path: "library/example.com", tag: "latest", digest: null, familiar: "example.com:latest", canonical: "docker.io/library/example.com:latest", oracle: "tag" },
  { input: "example.com:5000", registry: "docker.io", path: "library/example.com", tag: "5000", digest: null, familiar: "example.com:5000", canonical: "docker.io/library/example.com:5000", oracle: "tag" },
  // "sha256:<hex>" without a name is, by the grammar, the image "sha256" with a 64-character tag
  // (dockerd parses it; its tag command refuses it as ambiguous, a rule of its own, not the grammar's).
  { input: `sha256:${HEX}`, registry: "docker.io", path: "library/sha256", tag: HEX, digest: null, familiar: `sha256:${HEX}`, canonical: `docker.io/library/sha256:${HEX}`, oracle: "inspect" },
  // 63 hex digits are a name, only exactly 64 look like an image ID.
  { input: HEX.slice(1), registry: "docker.io", path: `library/${HEX.slice(1)}`, tag: "latest", digest: null, familiar: `${HEX.slice(1)}:latest`, canonical: `docker.io/library/${HEX.slice(1)}:latest`, oracle: "tag" },
  // Separators: one ".", one or two "_", any number of "-".
  { input: "foo__bar", registry: "docker.io", path: "library/foo__bar", tag: "latest", digest: null, familiar: "foo__bar:latest", canonical: "docker.io/library/foo__bar:latest", oracle: "tag" },
  { input: "foo---bar/x.y_z-w", registry: "docker.io", path: "foo---bar/x.y_z-w", tag: "latest", digest: null, familiar: "foo---bar/x.y_z-w:latest", canonical: "docker.io/foo---bar/x.y_z-w:latest", oracle: "tag" },
  // "a_b.com" has a "." so it is tried as a registry, is not a host name (the "_"), and the
  // whole name then matches as a two-component path with no registry at all.
  { input: "a_b.com/foo", registry: "", path: "a_b.com/foo", tag: "latest", digest: null, familiar: "a_b.com/foo:latest", canonical: "a_b.com/foo:latest", oracle: "tag" },
  // Tags: capitals and a leading "_" are fine, up to 128 characters.
  { input: "app:LATEST", registry: "docker.io", path: "library/app", tag: "LATEST", digest: null, familiar: "app:LATEST", canonical: "docker.io/library/app:LATEST", oracle: "tag" },
  { input: "app:_x.y-z", registry: "docker.io", path: "library/app", tag: "_x.y-z", digest: null, familiar: "app:_x.y-z", canonical: "docker.io/library/app:_x.y-z", oracle: "tag" },
  { input: `app:${"t".repeat(128)}`, registry: "docker.io", path: "library/app", tag: "t".repeat(128), digest: null, familiar: `app:${"t".repeat(128)}`, canonical: `docker.io/library/app:${"t".repeat(128)}` },
  // 255 characters for the whole name, registry included: docker.io/library/ is 18 of them.
  { input: "a".repeat(237), registry: "docker.io", path: `library/${"a".repeat(237)}`, tag: "latest", digest: null, familiar: `${"a".repeat(237)}:latest`, canonical: `docker.io/library/${"a".repeat(237)}:latest` },
  { input: `localhost:5000/${"b".repeat(240)}`, registry: "localhost:5000", path: "b".repeat(240), tag: "latest", digest: null, familiar: `localhost:5000/${"b".repeat(240)}:latest`, canonical: `localhost:5000/${"b".repeat(240)}:latest` },
];

export const INVALID: InvalidCase[] = [
  { input: "", kind: "empty", message: /empty/ },
  { input: HEX, kind: "hex-id", message: /image ID/, oracle: "tag" },
  { input: "Busybox", kind: "uppercase", message: /library\/Busybox.*lower-case/, oracle: "tag" },
  { input: HEX.toUpperCase(), kind: "uppercase", message: /lower-case/, oracle: "tag" },
  { input: "team/App", kind: "uppercase", message: /"team\/App" must be lower-case/, oracle: "tag" },
  { input: "localhost:5000/App", kind: "uppercase", message: /"App" must be lower-case/, oracle: "tag" },
  { input: "example.com/Team/app:1", kind: "uppercase", message: /"Team\/app" must be lower-case/, oracle: "tag" },
  { input: "a_b.COM/foo", kind: "uppercase", message: /lower-case/, oracle: "tag" },
  { input: "app:", kind: "invalid-tag", message: /tag after ':' is empty/, oracle: "tag" },
  { input: "app:-x", kind: "invalid-tag", message: /tag "-x"/, oracle: "tag" },
  { input: "app:.x", kind: "invalid-tag", message: /tag ".x"/, oracle: "tag" },
  { input: "app:1:2", kind: "invalid-tag", message: /tag "1:2"/, oracle: "tag" },
  { input: `app:${"t".repeat(129)}`, kind: "invalid-tag", message: /1 to 128/, oracle: "tag" },
  { input: "app:a b", kind: "invalid-tag", message: /tag "a b"/ },
  { input: "app@", kind: "invalid-digest", message: /digest ""/, oracle: "inspect" },
  { input: "app@sha256:abc", kind: "invalid-digest", message: /at least 32 hex digits/, oracle: "inspect" },
  { input: `app@${HEX}`, kind: "invalid-digest", message: /algorithm, ":"/, oracle: "inspect" },
  { input: `app@sha256:${HEX.slice(0, 32)}`, kind: "invalid-digest", message: /has 64 hex digits, this one has 32/, oracle: "inspect" },
  { input: `app@sha256:${HEX.toUpperCase()}`, kind: "invalid-digest", message: /lower-case hex/, oracle: "inspect" },
  { input: `app@md5:${HEX.slice(0, 32)}`, kind: "unsupported-digest", message: /unsupported digest algorithm "md5"/, oracle: "inspect" },
  { input: `app@${DIGEST}@${DIGEST}`, kind: "invalid-digest", message: /digest/, oracle: "inspect" },
  { input: "foo..bar", kind: "invalid-path", message: /"foo\.\.bar"/, oracle: "tag" },
  { input: "foo___bar", kind: "invalid-path", message: /"foo___bar"/, oracle: "tag" },
  { input: "foo_.bar", kind: "invalid-path", message: /"foo_\.bar"/, oracle: "tag" },
  { input: "-foo", kind: "invalid-path", message: /"-foo"/, oracle: "tag" },
  { input: "foo-", kind: "invalid-path", message: /"foo-"/, oracle: "tag" },
  { input: "foo/", kind: "invalid-path", message: /empty path component/, oracle: "tag" },
  { input: "/foo", kind: "invalid-path", message: /empty path component/, oracle: "tag" },
  { input: "foo//bar", kind: "invalid-path", message: /empty path component/, oracle: "tag" },
  { input: "localhost:5000/", kind: "invalid-path", message: /empty path component/, oracle: "tag" },
  { input: ":tag", kind: "invalid-path", message: /empty path component/, oracle: "tag" },
  { input: "foo bar", kind: "invalid-path", message: /"foo bar"/, oracle: "tag" },
  { input: "team/app:1/x", kind: "invalid-path", message: /"app:1"/, oracle: "tag" },
  { input: "-bad.com/foo", kind: "invalid-domain", message: /registry "-bad\.com"/, oracle: "tag" },
  { input: "bad-.com/foo", kind: "invalid-domain", message: /registry "bad-\.com"/, oracle: "tag" },
  { input: "example.com:port/foo", kind: "invalid-domain", message: /registry "example\.com:port"/, oracle: "tag" },
  { input: "[fe80::1%eth0]:5000/foo", kind: "invalid-domain", message: /IPv6/ },
  { input: "a".repeat(238), kind: "too-long", message: /256 characters; at most 255/ },
  { input: `localhost:5000/${"b".repeat(241)}`, kind: "too-long", message: /256 characters/ },
];
