/**
 * Berth agent entry point: `npm run agent` (or the berth/agent image).
 * Configuration: see agent/env.ts.
 */
import { connectAgent } from "./connection.ts";
import { createDockerClient } from "./docker/client.ts";
import { parseAgentEnv } from "./env.ts";

function log(level: "info" | "warn" | "error", message: string) {
  const line = `${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} [agent] ${message}`;
  (level === "info" ? console.log : console.error)(line);
}

// A bug in one frame must not take the host off Berth: log and carry on.
process.on("uncaughtException", (error) => log("error", `uncaught: ${error.stack ?? error.message}`));
process.on("unhandledRejection", (error) => log("error", `unhandled rejection: ${String(error)}`));

async function main() {
  const env = parseAgentEnv();
  const docker = createDockerClient(env.socketPath);
  const connection = await connectAgent({
    env,
    docker,
    log,
    onFatal: (message) => {
      log("error", `giving up: ${message}`);
      process.exit(2);
    },
  });
  const shutdown = () => {
    void connection.stop().finally(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
}

main().catch((error: unknown) => {
  log("error", error instanceof Error ? error.message : String(error));
  process.exit(1);
});
