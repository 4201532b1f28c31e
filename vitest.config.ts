import { defineConfig } from "vitest/config";
import LongestFirstSequencer from "./test/infra/sequencer.ts";

export default defineConfig({
  test: {
    // Longest files first (a checked-in table, CI has no duration cache): the workers finish together.
    sequence: { sequencer: LongestFirstSequencer },
    projects: [
      { test: { name: "unit", include: ["test/unit/**/*.test.ts"], environment: "node", sequence: { groupOrder: 0 } } },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          environment: "node",
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: "forks",
          maxWorkers: 2,
          // One process per worker for all its files, instead of one per file: every file imports the whole
          // server (better-auth, Prisma, PGlite, dockerode: 5-20 s of module loading each under load) and
          // each file starts and stops its own server, database, agents and dockerds, sharing nothing.
          isolate: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          environment: "node",
          testTimeout: 120_000,
          hookTimeout: 180_000,
          pool: "forks",
          // Two browsers at once: each file has its own server, database, names and extra dockerds.
          maxWorkers: 2,
          sequence: { groupOrder: 2 },
        },
      },
    ],
  },
});
