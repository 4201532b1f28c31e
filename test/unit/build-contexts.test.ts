/**
 * The build-context helpers that guard what reaches Docker: relative paths
 * stay inside the context, and the tar header walk agrees with GNU tar (the
 * oracle: archives written by the `tar` CLI, with long names and a
 * directory) on how many files a tar holds and where its end blocks start.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { safeRelativePath, scanTar } from "../../server/services/build-contexts.ts";

const dir = mkdtempSync(path.join(os.tmpdir(), "berth-unit-tar-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("safeRelativePath", () => {
  it.each([
    ["Dockerfile", "Dockerfile"],
    ["./app/main.go", "app/main.go"],
    ["app//x/./y", "app/x/y"],
    ["win\\style\\path.txt", "win/style/path.txt"],
  ])("%s → %s", (input, expected) => expect(safeRelativePath(input)).toBe(expected));
  it.each(["../etc/passwd", "app/../../x", "", ".", "a/\0b"])("refuses %j", (input) => expect(safeRelativePath(input)).toBeNull());
});

describe("scanTar", () => {
  it("counts a GNU tar's files (long names included) and finds its end blocks", async () => {
    const root = path.join(dir, "ctx");
    const long = `${"deep-".repeat(30)}name.txt`;
    mkdirSync(path.join(root, "sub"), { recursive: true });
    writeFileSync(path.join(root, "Dockerfile"), "FROM scratch\n");
    writeFileSync(path.join(root, "sub", "a.bin"), Buffer.alloc(1000, 1));
    writeFileSync(path.join(root, long), "x");
    const file = path.join(dir, "ctx.tar");
    execFileSync("tar", ["-C", root, "-cf", file, "."]);
    const listed = execFileSync("tar", ["-tf", file], { encoding: "utf8" }).split("\n").filter((line) => line && !line.endsWith("/"));
    expect(listed).toHaveLength(3);
    const scanned = await scanTar(file);
    expect(scanned.files).toBe(listed.length);
    // What follows `end` is only zero blocks (GNU tar pads the archive to its record size).
    const size = statSync(file).size;
    expect(scanned.end).toBeLessThan(size);
    expect(execFileSync("tail", ["-c", String(size - scanned.end), file]).every((byte) => byte === 0)).toBe(true);
  });

  /** A ustar header with a valid checksum whose size field holds `size` as written (not necessarily octal digits). */
  function header(name: string, size: string): Buffer {
    const block = Buffer.alloc(512);
    block.write(name, 0, "latin1");
    block.write("0000644\0", 100, "latin1");
    block.write(size.padEnd(11, " ") + "\0", 124, "latin1");
    block.write("0", 156, "latin1");
    block.write("ustar\0" + "00", 257, "latin1");
    block.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of block) sum += byte;
    block.write(sum.toString(8).padStart(6, "0") + "\0 ", 148, "latin1");
    return block;
  }

  it("a size that is not octal digits is refused; '-2000' walked the scan backwards forever (a 2 KiB upload held a core)", async () => {
    const file = path.join(dir, "backwards.tar");
    writeFileSync(file, Buffer.concat([header("a", "0"), header("b", "-2000"), Buffer.alloc(1024)]));
    // GNU tar refuses it too (the oracle that a valid header is what the helper writes: see the next case).
    expect(() => execFileSync("tar", ["-tf", file], { stdio: "pipe" })).toThrow();
    await expect(scanTar(file)).rejects.toThrow(/an entry's size cannot be read/);
    for (const size of ["1x", "0o17", "+17", "9"]) {
      writeFileSync(file, Buffer.concat([header("c", size), Buffer.alloc(1536)]));
      await expect(scanTar(file), size).rejects.toThrow(/not a tar archive/);
    }
  });

  it("the same hand-written header with an octal size is a tar GNU tar and the scan read alike", async () => {
    const file = path.join(dir, "handmade.tar");
    writeFileSync(file, Buffer.concat([header("hello.txt", "5"), Buffer.from("hello".padEnd(512, "\0")), Buffer.alloc(1024)]));
    expect(execFileSync("tar", ["-tf", file], { encoding: "utf8" }).trim()).toBe("hello.txt");
    expect(await scanTar(file)).toEqual({ files: 1, end: 1024 });
  });

  it("refuses what is not a tar", async () => {
    const file = path.join(dir, "not.tar");
    writeFileSync(file, Buffer.alloc(2048, 7));
    await expect(scanTar(file)).rejects.toThrow(/not a tar archive/);
  });
});
