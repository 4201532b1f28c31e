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

  it("refuses lifecycle params Docker must never see: bad signals, names, sizes", async () => {
    const bad: Array<[string, Record<string, unknown>]> = [
      ["container.kill", { containerId: "abc", signal: "SIGFOO" }],
      ["container.kill", { containerId: "abc", signal: "0" }],
      ["container.kill", { containerId: "abc", signal: "65" }],
      ["container.kill", { containerId: "abc", signal: "KILL; reboot" }],
      ["container.rename", { containerId: "abc", name: "x" }],
      ["container.rename", { containerId: "abc", name: "-dash-first" }],
      ["container.rename", { containerId: "abc", name: "a/b" }],
      ["container.remove", { containerId: "abc", force: "yes" }],
      ["container.update", { containerId: "abc", memoryBytes: -5 }],
      ["container.update", { containerId: "abc", restartPolicy: { name: "sometimes" } }],
    ];
    for (const [type, params] of bad) {
      const response = await dispatch(tripwire, { requestId: "r5", type, params });
      expect(response, `${type} ${JSON.stringify(params)}`).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    }
  });

  it("sends the signal, name and removal options Docker's API expects", async () => {
    const calls: Array<[string, unknown]> = [];
    const recording = {
      getContainer: (id: string) => ({
        kill: async (opts: unknown) => void calls.push([`kill ${id}`, opts]),
        rename: async (opts: unknown) => void calls.push([`rename ${id}`, opts]),
        remove: async (opts: unknown) => void calls.push([`remove ${id}`, opts]),
        update: async (opts: unknown) => {
          calls.push([`update ${id}`, opts]);
          return { Warnings: null };
        },
      }),
    } as unknown as Docker;
    for (const [type, params] of [
      ["container.kill", { containerId: "c1", signal: "SIGUSR1" }],
      ["container.kill", { containerId: "c1", signal: "9" }],
      ["container.rename", { containerId: "c1", name: "/new.name_1" }],
      ["container.remove", { containerId: "c1", force: true, removeVolumes: true }],
      ["container.update", { containerId: "c1", memoryBytes: 67108864, restartPolicy: { name: "on-failure", maximumRetryCount: 3 } }],
    ] as const) {
      expect(await dispatch(recording, { requestId: "r6", type, params }), type).toMatchObject({ ok: true });
    }
    expect(calls).toEqual([
      ["kill c1", { signal: "SIGUSR1" }],
      ["kill c1", { signal: "9" }],
      ["rename c1", { name: "new.name_1" }],
      ["remove c1", { force: true, v: true }],
      ["update c1", { Memory: 67108864, RestartPolicy: { Name: "on-failure", MaximumRetryCount: 3 } }],
    ]);
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
