/**
 * An image's layer stack and the layers it shares, on the real dockerd: three
 * images built FROM one another (busybox → layered → a child built here), read
 * through Berth and compared with what the Docker CLI says about each image.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createHost } from "../../server/services/hosts.ts";
import { callerFor, createSignedInUser, startTestAgent, startTestServer, waitFor, waitForSnapshot, type TestAgent, type TestServer, type TestUser } from "../infra/berth.ts";
import { dockerCli, LAYERED_TEST_IMAGE, TEST_IMAGE } from "../infra/docker.ts";
import { execFile } from "node:child_process";
import { promisify } from "node:util";

const suffix = Math.random().toString(36).slice(2, 8);
const CHILD = `berth-test/layers-child-${suffix}:latest`;
const BUILD_SECRET = "npm-s3cret-token";
const ENV_SECRET = "hunter2-env";

let t: TestServer;
let agent: TestAgent;
let admin: TestUser;
let hostId = "";

async function cliLayers(image: string): Promise<string[]> {
  return JSON.parse(await dockerCli(["image", "inspect", "--format", "{{json .RootFS.Layers}}", image])) as string[];
}

beforeAll(async () => {
  // FROM the layered image, one more layer of its own.
  // A build arg and an ENV that hold secrets: Docker keeps both in the image's history.
  const child = promisify(execFile)("docker", ["build", "-q", "--build-arg", `NPM_TOKEN=${BUILD_SECRET}`, "-t", CHILD, "-"], { timeout: 120_000 });
  child.child.stdin!.end(
    `FROM ${LAYERED_TEST_IMAGE}\nARG NPM_TOKEN\nRUN echo "the child's own layer" > /child.txt\nENV CHILD=1 DB_PASSWORD=${ENV_SECRET}\n`,
  );
  await child;
  t = await startTestServer({ name: "image_layers" });
  admin = await createSignedInUser(t.server, { role: "admin", email: "admin@layers.test" });
  const team = await t.server.db.team.create({ data: { name: "layers-team" } });
  const join = await createHost({ db: t.server.db, bus: t.server.deps.bus, name: "layers-host", teamIds: [team.id], ttlMinutes: 5, serverUrl: t.url });
  hostId = join.hostId;
  agent = await startTestAgent({ serverUrl: t.url, joinToken: join.token });
  await waitForSnapshot(t.server, hostId);
}, 180_000);

afterAll(async () => {
  await agent?.kill();
  await t?.stop();
  await dockerCli(["image", "rm", "--force", CHILD]).catch(() => undefined);
});

describe("image layers", () => {
  it("shows the child's stack base first, shares exactly the parent's layers, and counts shared and unique bytes", async () => {
    const childId = await dockerCli(["image", "inspect", "--format", "{{.Id}}", CHILD]);
    await waitFor(() => t.server.db.image.findUnique({ where: { hostId_dockerId: { hostId, dockerId: childId } } }), { what: "the child image in the mirror" });
    const [childLayers, parentLayers, baseLayers] = await Promise.all([cliLayers(CHILD), cliLayers(LAYERED_TEST_IMAGE), cliLayers(TEST_IMAGE)]);
    expect(childLayers.length).toBe(parentLayers.length + 1);

    const view = await (await callerFor(t.server, admin)).images.layers({ hostId, imageId: childId });
    expect(view.layers.map((l) => l.digest)).toEqual(childLayers);

    const parentTag = LAYERED_TEST_IMAGE;
    for (const [i, layer] of view.layers.entries()) {
      const tags = layer.sharedWith.flatMap((other) => other.tags);
      // The parent's layers are the child's first ones; the base image's the very first.
      expect(tags.includes(parentTag), `layer ${i} shared with the parent`).toBe(parentLayers.includes(layer.digest));
      expect(tags.includes(TEST_IMAGE), `layer ${i} shared with busybox`).toBe(baseLayers.includes(layer.digest));
    }
    const own = view.layers.at(-1)!;
    expect(own.sharedWith).toEqual([]);
    expect(own.createdBy).toContain("the child's own layer");

    // Sizes as `docker history` prints them for the steps that made a layer (newest first there).
    const history = (await dockerCli(["history", "--no-trunc", "--human=false", "--format", "{{.Size}}\t{{.CreatedBy}}", CHILD])).split("\n").reverse();
    const ownStep = history.find((line) => line.includes("the child's own layer"))!;
    expect(own.sizeBytes).toBe(Number(ownStep.split("\t")[0]));
    expect(view.history.find((step) => step.createdBy.includes("ENV CHILD=[redacted] DB_PASSWORD=[redacted]"))?.makesLayer).toBe(false);
    // Docker's own history holds both secrets; Berth's view (anyone who sees the host reads it) holds neither.
    const cliHistory = history.join("\n");
    expect(cliHistory).toContain(`NPM_TOKEN=${BUILD_SECRET}`);
    expect(cliHistory).toContain(`DB_PASSWORD=${ENV_SECRET}`);
    expect(JSON.stringify(view)).not.toContain(BUILD_SECRET);
    expect(JSON.stringify(view)).not.toContain(ENV_SECRET);
    expect(own.createdBy).toContain("NPM_TOKEN=[redacted]");

    const sizes = view.layers.map((l) => l.sizeBytes ?? 0);
    const sharedBytes = view.layers.filter((l) => parentLayers.includes(l.digest)).reduce((n, l) => n + (l.sizeBytes ?? 0), 0);
    expect(view.sharedBytes).toBe(sharedBytes);
    expect(view.uniqueBytes).toBe(own.sizeBytes);
    expect(view.sharedBytes + view.uniqueBytes).toBe(sizes.reduce((a, b) => a + b, 0));
  });

  it("refuses an image the host does not have", async () => {
    await expect((await callerFor(t.server, admin)).images.layers({ hostId, imageId: "sha256:" + "0".repeat(64) })).rejects.toThrow("Image not found on this host");
  });
});
