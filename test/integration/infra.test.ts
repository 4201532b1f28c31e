/**
 * Self-test of the test infrastructure in test/infra: if these fail, the
 * machine is not set up (run .ci/run), not the app.
 */
import { existsSync } from "node:fs";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import {
  LAYERED_TEST_IMAGE,
  TEST_IMAGE,
  buildTestImages,
  dockerCli,
  removeContainersByLabel,
  runTestContainer,
  startExtraDockerHost,
} from "../infra/docker.ts";
import { launchBrowser } from "../infra/browser.ts";
import { createTestDatabase } from "../infra/postgres.ts";

const LABEL = "berth.test=infra";

describe("test infrastructure", () => {
  afterAll(() => removeContainersByLabel(LABEL));

  it("builds the busybox images, and the test image runs commands", async () => {
    await buildTestImages();
    const id = await runTestContainer({
      name: `berth-infra-echo-${process.pid}`,
      cmd: ["echo", "hello"],
      labels: { "berth.test": "infra" },
      detach: false,
    });
    expect(await dockerCli(["logs", id])).toBe("hello");
    const layers = await dockerCli(["image", "inspect", "--format", "{{len .RootFS.Layers}}", LAYERED_TEST_IMAGE]);
    expect(Number(layers)).toBeGreaterThanOrEqual(4);
  }, 120_000);

  it("starts an extra Docker host whose containers stay on it, and stops it without leftovers", async () => {
    const host = await startExtraDockerHost("infra-selftest");
    const name = `berth-infra-remote-${process.pid}`;
    try {
      expect(await dockerCli(["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE], { host: host.dockerHost })).toBe(
        await dockerCli(["image", "inspect", "--format", "{{.Id}}", TEST_IMAGE]),
      );
      await runTestContainer({ name, host: host.dockerHost, labels: { "berth.test": "infra" } });
      expect(await dockerCli(["inspect", "--format", "{{.State.Running}}", name], { host: host.dockerHost })).toBe("true");
      expect(await dockerCli(["ps", "--all", "--format", "{{.Names}}", "--filter", `label=${LABEL}`], { host: host.dockerHost })).toBe(name);
      expect(await dockerCli(["ps", "--all", "--format", "{{.Names}}", "--filter", `name=^${name}$`])).toBe("");
    } finally {
      await host.stop();
    }
    expect(existsSync(host.socketPath)).toBe(false);
    expect(existsSync(`/run/netns/berth-${host.name}`)).toBe(false);
    expect(await dockerCli(["info", "--format", "{{.ID}}"])).not.toBe("");
  }, 120_000);

  it("creates a throwaway Postgres database and drops it, even with a client still connected", async () => {
    const db = await createTestDatabase("infra");
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    client.on("error", () => {
      // drop() terminates this connection on purpose.
    });
    const result = await client.query<{ one: number }>("select 1 as one");
    expect(result.rows[0]?.one).toBe(1);
    await db.drop();
    await client.end().catch(() => undefined);

    const admin = new pg.Client({
      connectionString: process.env.BERTH_TEST_PG_ADMIN_URL ?? "postgres://berth:berth@127.0.0.1:5432/postgres",
    });
    await admin.connect();
    try {
      const left = await admin.query("select 1 from pg_database where datname = $1", [db.name]);
      expect(left.rowCount).toBe(0);
    } finally {
      await admin.end();
    }
  }, 60_000);

  it("launches headless Chromium with a 1440x900 page", async () => {
    const browser = await launchBrowser();
    try {
      await browser.page.setContent("<title>berth</title><p>ok</p>");
      expect(await browser.page.title()).toBe("berth");
      expect(browser.page.viewportSize()).toEqual({ width: 1440, height: 900 });
    } finally {
      await browser.close();
    }
  }, 60_000);
});
