/**
 * Berth's server as a child process on a fresh test database: the fuzz test
 * needs to tell "the server crashed" apart from "the test threw", read the
 * server's stderr, and measure its memory after a forced GC.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createMigratedDatabase, freePort } from "./berth.ts";
import type { TestDatabase } from "./postgres.ts";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

export type ServerMemory = { heapUsed: number; rss: number; external: number; arrayBuffers: number; vmRss: number | null };

export type ServerProcess = {
  url: string;
  pid: number;
  process: ChildProcess;
  database: TestDatabase;
  /** Everything the server wrote to stderr / stdout so far. */
  stderr(): string;
  stdout(): string;
  alive(): boolean;
  /** Heap and RSS after a forced full GC in the server process, plus VmRSS from /proc. */
  memory(): Promise<ServerMemory>;
  stop(): Promise<void>;
};

async function vmRss(pid: number): Promise<number | null> {
  try {
    const status = await readFile(`/proc/${pid}/status`, "utf8");
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : null;
  } catch {
    return null;
  }
}

export async function startServerProcess(opts: { name: string; env?: Record<string, string> }): Promise<ServerProcess> {
  const database = await createMigratedDatabase(opts.name);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "berth-test-server-"));
  const port = await freePort();
  const child = spawn(process.execPath, ["--expose-gc", "--import", "tsx", path.join(ROOT, "test", "infra", "server-child.ts")], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe", "ipc"],
    env: {
      ...process.env,
      NODE_ENV: "production",
      DATABASE_URL: database.url,
      BERTH_PORT: String(port),
      BERTH_HOST: "127.0.0.1",
      BERTH_PUBLIC_URL: `http://127.0.0.1:${port}`,
      BERTH_DATA_DIR: dataDir,
      BERTH_SECRET: randomBytes(32).toString("hex"),
      BERTH_LOG_LEVEL: process.env.BERTH_TEST_LOG_LEVEL ?? "warn",
      ...opts.env,
    },
  });
  let stderr = "";
  let stdout = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
    if (process.env.BERTH_TEST_SERVER_LOGS) process.stderr.write(chunk);
  });
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    const onMessage = (message: { type?: string; url?: string }) => {
      if (message?.type === "ready" && message.url) {
        child.off("message", onMessage);
        resolve(message.url.replace("localhost", "127.0.0.1"));
      }
    };
    child.on("message", onMessage);
    child.once("exit", (code) => reject(new Error(`the server exited (${code}) before it was ready:\n${stderr}`)));
  });

  let probeId = 0;
  return {
    url,
    pid: child.pid!,
    process: child,
    database,
    stderr: () => stderr,
    stdout: () => stdout,
    alive: () => child.exitCode === null && child.signalCode === null,
    memory() {
      const id = ++probeId;
      return new Promise<ServerMemory>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("the server did not answer the memory probe")), 30_000);
        const onMessage = async (message: { type?: string; id?: number; usage?: NodeJS.MemoryUsage; gcForced?: boolean }) => {
          if (message?.type !== "memory" || message.id !== id) return;
          child.off("message", onMessage);
          clearTimeout(timer);
          if (!message.gcForced) return reject(new Error("the server process was started without --expose-gc"));
          const usage = message.usage!;
          resolve({ heapUsed: usage.heapUsed, rss: usage.rss, external: usage.external, arrayBuffers: usage.arrayBuffers, vmRss: await vmRss(child.pid!) });
        };
        child.on("message", onMessage);
        child.send({ type: "memory", id });
      });
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 15_000);
        await exited;
        clearTimeout(timer);
      }
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
