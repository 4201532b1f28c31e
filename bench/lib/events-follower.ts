/**
 * The direct path for an idle agent's memory: a bare Node process (same node,
 * same `--import tsx`) that only opens dockerode and follows Docker's event
 * stream, the least any agent must do. Prints "ready" once the stream is open.
 */
import Docker from "dockerode";

const socketPath = (process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock").replace(/^unix:\/\//, "");
const docker = new Docker({ socketPath });
const stream = (await docker.getEvents({})) as NodeJS.ReadableStream;
let events = 0;
stream.on("data", () => {
  events++;
});
stream.on("error", (error) => {
  console.error(`events stream failed: ${error.message}`);
  process.exit(1);
});
process.once("SIGTERM", () => {
  console.log(`events seen: ${events}`);
  process.exit(0);
});
console.log("ready");
