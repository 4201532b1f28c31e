/**
 * A real headless Chromium for end-to-end tests, driven by playwright-core
 * (never `playwright install`: it downloads browsers, and nothing is reachable).
 */
import { mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type BrowserContext, type Page } from "playwright-core";

/** A browser launched by {@link launchBrowser}. */
export interface TestBrowser {
  context: BrowserContext;
  /** The context's first page, ready to `goto`. */
  page: Page;
  /** Closes the browser and deletes its profile folder. */
  close(): Promise<void>;
}

const ARTIFACTS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../artifacts");

/**
 * Launches Chromium (`BERTH_CHROMIUM`, default /usr/bin/chromium) with a fresh
 * profile in a temp folder, so tests never share cookies or storage. The flags
 * keep it from reaching for the network (updates, sync, QUIC) and let it run as root.
 */
export async function launchBrowser(): Promise<TestBrowser> {
  const profileDir = await mkdtemp(path.join(os.tmpdir(), "berth-chromium-"));
  try {
    const context = await chromium.launchPersistentContext(profileDir, {
      executablePath: process.env.BERTH_CHROMIUM ?? "/usr/bin/chromium",
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return {
      context,
      page,
      close: async () => {
        await context.close();
        await rm(profileDir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await rm(profileDir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Where to save a screenshot: `<repo>/test/artifacts/<name>.png` (the folder is
 * created; CI keeps it as an artifact, git ignores it).
 */
export function screenshotPath(name: string): string {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return path.join(ARTIFACTS_DIR, `${name.replace(/[^A-Za-z0-9._-]+/g, "-")}.png`);
}
