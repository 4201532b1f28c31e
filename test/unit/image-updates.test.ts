/**
 * Which tags of an image are checked for updates, and against which local
 * digest: Docker's RepoTags and RepoDigests as `docker image inspect` shows
 * them (familiar names for Docker Hub, host:port names otherwise), with the
 * expected answers written out by hand.
 */
import { describe, expect, it } from "vitest";
import { pulledTags } from "../../server/services/image-updates.ts";

const D1 = `sha256:${"a".repeat(64)}`;
const D2 = `sha256:${"b".repeat(64)}`;

describe("pulledTags", () => {
  it("pairs each tag with its repository's digest, Docker Hub names normalised", () => {
    expect(pulledTags({ repoTags: ["busybox:latest", "busybox:1.36"], repoDigests: [`busybox@${D1}`] })).toEqual([
      { reference: "docker.io/library/busybox:latest", registry: "docker.io", path: "library/busybox", tag: "latest", localDigest: D1 },
      { reference: "docker.io/library/busybox:1.36", registry: "docker.io", path: "library/busybox", tag: "1.36", localDigest: D1 },
    ]);
  });

  it("keeps registries apart: a tag is compared only with the digest of its own repository", () => {
    expect(
      pulledTags({
        repoTags: ["127.0.0.1:5000/team/app:1", "localhost:5001/team/app:1", "ghcr.io/o/x:2"],
        repoDigests: [`127.0.0.1:5000/team/app@${D1}`, `ghcr.io/o/x@${D2}`],
      }),
    ).toEqual([
      { reference: "127.0.0.1:5000/team/app:1", registry: "127.0.0.1:5000", path: "team/app", tag: "1", localDigest: D1 },
      { reference: "ghcr.io/o/x:2", registry: "ghcr.io", path: "o/x", tag: "2", localDigest: D2 },
    ]);
  });

  it("skips images built locally (no RepoDigest) and dangling ones", () => {
    expect(pulledTags({ repoTags: ["berth-test/busybox:latest"], repoDigests: [] })).toEqual([]);
    expect(pulledTags({ repoTags: [], repoDigests: [`busybox@${D1}`] })).toEqual([]);
  });
});
