/**
 * Docker itself is the oracle for the image reference parser: every row of
 * the hand-written table marked `oracle` goes through the real Docker CLI and
 * dockerd. A valid reference must be accepted by `docker tag` and listed by
 * dockerd under the familiar name the table gives; an invalid one must be
 * refused as a reference (not as a missing image). Digest references cannot
 * be tagged, so for them dockerd's parse in `docker image inspect` decides:
 * "No such image" = parsed, a format error = refused.
 * Runs on an extra dockerd of its own, so no tag lands on the shared daemon.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseImageReference } from "../../agent/image-reference.ts";
import { copyImages, dockerCli, startExtraDockerHost, TEST_IMAGE, type ExtraDockerHost } from "../infra/docker.ts";
import { INVALID, VALID } from "../unit/image-reference-cases.ts";

let docker: ExtraDockerHost;

beforeAll(async () => {
  docker = await startExtraDockerHost("refs");
  await copyImages([TEST_IMAGE], docker.dockerHost);
}, 180_000);

afterAll(async () => {
  await docker?.stop();
});

async function attempt(args: string[]): Promise<{ ok: true; out: string } | { ok: false; error: string }> {
  try {
    return { ok: true, out: await dockerCli(args, { host: docker.dockerHost }) };
  } catch (error) {
    return { ok: false, error: String(error) };
  }
}

/** How dockerd and the CLI word a reference they cannot parse (dockerd prefixes it with "no such image: <ref>:"). */
const REFUSED = /invalid reference format|invalid checksum digest|unsupported digest algorithm|cannot specify 64-byte hexadecimal|must be lowercase/i;
const valid = VALID.filter((c) => c.oracle);
const invalid = INVALID.filter((c) => c.oracle);

describe("the reference table agrees with Docker", () => {
  it("checks a real number of rows", () => {
    expect(valid.length).toBeGreaterThanOrEqual(20);
    expect(invalid.length).toBeGreaterThanOrEqual(20);
  });

  it.each(valid.map((c) => [c.input.length > 60 ? `${c.input.slice(0, 57)}…` : c.input, c] as const))("%s is valid for Docker and for Berth", async (_label, c) => {
    expect(parseImageReference(c.input).ok).toBe(true);
    if (c.oracle === "inspect") {
      const result = await attempt(["image", "inspect", "--format", "{{.Id}}", c.input]);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error).toMatch(/No such image/i);
        expect(result.error).not.toMatch(REFUSED);
      }
      return;
    }
    const tagged = await attempt(["tag", TEST_IMAGE, c.input]);
    if (!tagged.ok) throw new Error(`docker tag refused ${c.input}: ${tagged.error}`);
    try {
      const tags = JSON.parse(await dockerCli(["image", "inspect", "--format", "{{json .RepoTags}}", c.input], { host: docker.dockerHost })) as string[];
      expect(tags).toContain(c.familiar);
    } finally {
      await attempt(["rmi", c.input]);
    }
  });

  it.each(invalid.map((c) => [c.input.length > 60 ? `${c.input.slice(0, 57)}…` : c.input, c] as const))("%s is refused by Docker and by Berth", async (_label, c) => {
    expect(parseImageReference(c.input).ok).toBe(false);
    const result = c.oracle === "inspect" ? await attempt(["image", "inspect", "--format", "{{.Id}}", c.input]) : await attempt(["tag", TEST_IMAGE, c.input]);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error).toMatch(REFUSED);
    }
  });
});
