import { describe, expect, it } from "vitest";
import {
  authChallengeMessage,
  describeZodError,
  operations,
  ZAuthenticate,
  ZInventoryChange,
  ZOperationResponse,
} from "../../agent/protocol.ts";

const container = {
  id: "a".repeat(64),
  name: "web",
  image: "nginx:latest",
  imageId: "sha256:" + "b".repeat(64),
  command: "nginx -g 'daemon off;'",
  state: "running",
  health: null,
  exitCode: 0,
  oomKilled: false,
  restartCount: 0,
  startedAt: "2026-11-23T10:00:00.000Z",
  finishedAt: null,
  createdAt: "2026-11-23T09:59:59.000Z",
  ports: [{ ip: "0.0.0.0", privatePort: 80, publicPort: 8080, type: "tcp" }],
  labels: { team: "web" },
  inspect: null,
};

describe("the agent wire contract", () => {
  it("accepts each kind of inventory change and rejects mixed-up ones", () => {
    expect(ZInventoryChange.safeParse({ kind: "container", op: "upsert", record: container }).success).toBe(true);
    expect(ZInventoryChange.safeParse({ kind: "volume", op: "remove", id: "data" }).success).toBe(true);
    // A container record under the image kind is not an image.
    expect(ZInventoryChange.safeParse({ kind: "image", op: "upsert", record: container }).success).toBe(false);
    expect(ZInventoryChange.safeParse({ kind: "secret", op: "remove", id: "x" }).success).toBe(false);
    expect(ZInventoryChange.safeParse({ kind: "container", op: "upsert", record: { ...container, id: 7 } }).success).toBe(false);
  });

  it("requires a signature for both ways of authenticating", () => {
    const info = { agentVersion: "1", protocolVersion: 1 };
    expect(ZAuthenticate.safeParse({ mode: "key", agentId: "abc", info }).success).toBe(false);
    expect(ZAuthenticate.safeParse({ mode: "key", agentId: "abc", signature: "x".repeat(88), info }).success).toBe(true);
    expect(
      ZAuthenticate.safeParse({ mode: "join", token: "bjt_" + "x".repeat(40), publicKey: "not a pem", signature: "x".repeat(88), info })
        .success,
    ).toBe(false);
  });

  it("binds a signature to its nonce and its purpose", () => {
    expect(authChallengeMessage("n1", "join")).not.toBe(authChallengeMessage("n2", "join"));
    expect(authChallengeMessage("n1", "join")).not.toBe(authChallengeMessage("n1", "agent-1"));
    expect(authChallengeMessage("n1", "join")).toMatch(/^berth-agent-auth:v3:/);
  });

  it("declares params and a result for every operation", () => {
    for (const [type, op] of Object.entries(operations)) {
      expect(op.params, type).toBeDefined();
      expect(op.result, type).toBeDefined();
    }
    expect(operations["container.stop"].params.safeParse({ containerId: "abc", timeoutSeconds: 601 }).success).toBe(false);
  });

  it("only accepts known error codes in responses", () => {
    expect(ZOperationResponse.safeParse({ requestId: "1", ok: false, error: { code: "DOCKER_ERROR", message: "no" } }).success).toBe(true);
    expect(ZOperationResponse.safeParse({ requestId: "1", ok: false, error: { code: "PWNED", message: "no" } }).success).toBe(false);
  });

  it("summarises validation errors with their path", () => {
    const result = ZInventoryChange.safeParse({ kind: "container", op: "remove" });
    expect(result.success).toBe(false);
    if (!result.success) expect(describeZodError(result.error)).toMatch(/\w/);
  });
});
