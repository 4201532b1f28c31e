/**
 * SIGTERM ends the server, always: the real entry point with the embedded
 * database and its local agent connected (the setup where a stuck query once
 * kept the process alive), then SIGTERM. The bound below is a liveness check
 * (the server's own hard limit is 10 s), not a speed measurement. On the way
 * out the server writes its final signed audit checkpoint.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../infra/berth.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe("shutdown", () => {
  it("exits on SIGTERM with an agent connected to the embedded database, after writing the final checkpoint", async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-shutdown-"));
    dirs.push(dataDir);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_ENV: "production",
      BERTH_DATA_DIR: dataDir,
      BERTH_PORT: String(await freePort()),
      BERTH_HOST: "127.0.0.1",
      BERTH_ADMIN_EMAIL: "admin@shutdown.test",
      BERTH_ADMIN_PASSWORD: "correct horse battery staple",
      BERTH_LOG_LEVEL: "info",
    };
    delete env.DATABASE_URL;
    delete env.BERTH_PUBLIC_URL;
    const child = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--api-only", "--with-local-agent"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const onData = (chunk: Buffer) => (output += chunk.toString());
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setInterval(() => {
          if (/agent (joined|connected)/.test(output)) {
            clearInterval(timer);
            resolve();
          }
          if (child.exitCode !== null) {
            clearInterval(timer);
            reject(new Error(`server exited early:\n${output}`));
          }
        }, 100);
        setTimeout(() => {
          clearInterval(timer);
          reject(new Error(`the local agent did not connect:\n${output}`));
        }, 150_000);
      });

      child.kill("SIGTERM");
      const result = await Promise.race([
        exited,
        new Promise<"still running">((resolve) => setTimeout(() => resolve("still running"), 15_000)),
      ]);
      expect(result, output.slice(-3000)).toEqual({ code: 0, signal: null });

      const checkpoints = (await readFile(path.join(dataDir, "audit-checkpoints.ndjson"), "utf8")).trim().split("\n");
      expect(checkpoints.length).toBeGreaterThan(0);
      expect(JSON.parse(checkpoints[checkpoints.length - 1]!)).toMatchObject({ v: 1, seq: expect.stringMatching(/^\d+$/) });
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  }, 200_000);
});
