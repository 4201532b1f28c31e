/**
 * A terminal applies resizes and keystrokes in the order they were made.
 * Docker takes a resize as its own HTTP request while keystrokes go down the
 * exec's hijacked connection; on a loaded machine `stty size` typed right
 * after a resize ran at the old size (the "follows resizes" integration test
 * failed now and then), and right after the exec started, at 0×0 (Docker 20.10
 * starts an exec's TTY without a size). Here Docker is a stand-in whose resize
 * answers only when the test says so, so the order is observable.
 */
import { PassThrough } from "node:stream";
import type Docker from "dockerode";
import { describe, expect, it } from "vitest";
import { openExec } from "../../agent/docker/terminal.ts";

function fakeDocker() {
  const written: string[] = [];
  const resizes: Array<{ size: { h: number; w: number }; answer: () => void }> = [];
  const connection = new PassThrough();
  connection.write = ((chunk: string) => {
    written.push(String(chunk));
    return true;
  }) as typeof connection.write;
  const exec = {
    start: async () => connection,
    resize: (size: { h: number; w: number }) => new Promise<void>((resolve) => resizes.push({ size, answer: resolve })),
    inspect: async () => ({ ExitCode: 0 }),
  };
  const docker = { getContainer: () => ({ exec: async () => exec }) } as unknown as Docker;
  return { docker, written, resizes };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));
const sink = { output: () => true, idle: () => true, end: () => undefined };
const params = { containerId: "c".repeat(64), cmd: ["sh"], user: "", workingDir: "", env: [], cols: 80, rows: 24 };

describe("terminal input order", () => {
  it("holds keystrokes until the exec's first size is applied", async () => {
    const { docker, written, resizes } = fakeDocker();
    const terminal = await openExec(docker, params, sink);
    terminal.input({ kind: "stdin", data: "stty size\r" });
    await tick();
    expect(resizes.map((r) => r.size)).toEqual([{ h: 24, w: 80 }]);
    expect(written).toEqual([]);
    resizes[0]!.answer();
    await tick();
    expect(written).toEqual(["stty size\r"]);
  });

  it("a keystroke after a resize waits for it; resizes apply one after another, in order; then input flows at once", async () => {
    const { docker, written, resizes } = fakeDocker();
    const terminal = await openExec(docker, params, sink);
    await tick();
    resizes[0]!.answer();
    await tick();
    terminal.input({ kind: "stdin", data: "a" });
    expect(written).toEqual(["a"]); // nothing in flight: written at once
    terminal.input({ kind: "resize", cols: 132, rows: 40 });
    terminal.input({ kind: "resize", cols: 100, rows: 30 });
    terminal.input({ kind: "stdin", data: "b" });
    terminal.input({ kind: "stdin", data: "c" });
    await tick();
    expect(resizes.map((r) => r.size)).toEqual([{ h: 24, w: 80 }, { h: 40, w: 132 }]);
    expect(written).toEqual(["a"]);
    resizes[1]!.answer();
    await tick();
    expect(resizes.map((r) => r.size)).toEqual([{ h: 24, w: 80 }, { h: 40, w: 132 }, { h: 30, w: 100 }]);
    expect(written).toEqual(["a"]);
    resizes[2]!.answer();
    await tick();
    expect(written).toEqual(["a", "b", "c"]);
    terminal.input({ kind: "stdin", data: "d" });
    expect(written).toEqual(["a", "b", "c", "d"]);
  });
});
