/**
 * Child-process entry for tests that need Berth in its own process (so a
 * crash is a crash, not a failed assertion in the test's process): starts the
 * real server from the environment, reports its URL over IPC and, on request,
 * its memory after a forced full GC (node --expose-gc). The probe is an IPC
 * message from the parent test, never something the server serves.
 */
import { startServer } from "../../server/main.ts";

type Probe = { type: "memory"; id: number };

const running = await startServer({ withNext: false, env: process.env });
process.send!({ type: "ready", url: running.url });

process.on("message", (message: Probe) => {
  if (message?.type !== "memory") return;
  const gc = (globalThis as { gc?: () => void }).gc;
  // Two passes: the first can only queue finalizers for objects the second then frees.
  gc?.();
  gc?.();
  process.send!({ type: "memory", id: message.id, usage: process.memoryUsage(), gcForced: Boolean(gc) });
});

const shutdown = () => {
  running.stop().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.once("SIGTERM", shutdown);
process.once("SIGINT", shutdown);
