/**
 * The agent's allow-list: bad frames are answered before Docker is touched.
 * The Docker client here is a tripwire that fails the test if used.
 */
import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { dispatch } from "../../agent/handlers/index.ts";

const tripwire = new Proxy({} as Docker, {
  get(_target, property) {
    throw new Error(`Docker was called (${String(property)}) for a request that should have been refused`);
  },
});

describe("agent dispatch", () => {
  it("refuses a frame that is not a request", async () => {
    expect(await dispatch(tripwire, "GET /containers/json")).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    expect(await dispatch(tripwire, null)).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
  });

  it("refuses operations outside the allow-list, including raw API paths", async () => {
    for (const type of ["container.exec.raw", "/v1.41/containers/create", "__proto__", "constructor"]) {
      const response = await dispatch(tripwire, { requestId: "r1", type, params: {} });
      expect(response, type).toMatchObject({ requestId: "r1", ok: false, error: { code: "UNKNOWN_OPERATION" } });
    }
  });

  it("refuses params that do not match the operation's schema", async () => {
    const response = await dispatch(tripwire, { requestId: "r2", type: "container.stop", params: { containerId: "" } });
    expect(response).toMatchObject({ requestId: "r2", ok: false, error: { code: "BAD_REQUEST" } });
    if (!response.ok) expect(response.error.message).toMatch(/containerId/);
  });

  it("passes Docker's refusal through with its own words", async () => {
    const refusing = {
      getContainer: () => ({
        start: async () => {
          throw Object.assign(new Error("(HTTP code 500) server error - OCI runtime create failed: no such file"), {
            statusCode: 500,
            json: { message: "OCI runtime create failed: no such file" },
          });
        },
      }),
    } as unknown as Docker;
    const response = await dispatch(refusing, { requestId: "r3", type: "container.start", params: { containerId: "abc" } });
    expect(response).toEqual({
      requestId: "r3",
      ok: false,
      error: { code: "DOCKER_ERROR", message: "OCI runtime create failed: no such file" },
    });
  });
});
