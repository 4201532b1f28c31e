import Docker from "dockerode";

/** dockerode on the local unix socket; the agent never talks to a remote Docker. */
export function createDockerClient(socketPath: string): Docker {
  return new Docker({ socketPath });
}

/** Docker's own error text (e.g. "container already started"), without dockerode's prefix. */
export function dockerErrorMessage(error: unknown): string {
  if (error && typeof error === "object") {
    const json = (error as { json?: { message?: unknown } }).json;
    if (json && typeof json.message === "string") return json.message;
    const reason = (error as { reason?: unknown }).reason;
    const message = (error as { message?: unknown }).message;
    if (typeof message === "string") return message.replace(/^\(HTTP code \d+\) [\w ]+ - /, "");
    if (typeof reason === "string") return reason;
  }
  return String(error);
}

export function dockerStatusCode(error: unknown): number | undefined {
  const code = error && typeof error === "object" ? (error as { statusCode?: unknown }).statusCode : undefined;
  return typeof code === "number" ? code : undefined;
}
