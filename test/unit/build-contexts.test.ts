/**
 * The build-context helpers that guard what reaches Docker: relative paths
 * stay inside the context, and the tar header walk agrees with GNU tar (the
 * oracle: archives written by the `tar` CLI, with long names and a
 * directory) on how many files a tar holds and where its end blocks start,
 * read from a file or going by in chunks cut anywhere. A context forwarded as
 * it uploads reaches the agent byte for byte (or, with the editor's
 * Dockerfile, as GNU tar then reads it), and a bad upload is refused.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import type { IncomingMessage } from "node:http";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { AppError } from "../../server/errors.ts";
import { UploadingContext } from "../../server/services/build-context-upload.ts";
import { safeRelativePath, scanTar } from "../../server/services/build-contexts.ts";
import { TarWalker } from "../../server/services/tar-headers.ts";

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

/** A GNU tar (the oracle) of a few files, one with a long name, one empty, as bytes. */
function gnuTar(name: string, files: Record<string, Buffer | string>): Buffer {
  const root = path.join(dir, name);
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
  }
  return execFileSync("tar", ["-C", root, "-cf", "-", "."], { maxBuffer: 64 << 20 });
}
const listTar = (bytes: Buffer) => execFileSync("tar", ["-tf", "-"], { input: bytes, encoding: "utf8" }).split("\n").filter((line) => line && !line.endsWith("/"));

/** `bytes` cut into pieces of the given sizes, cycling through them. */
function pieces(bytes: Buffer, sizes: number[]): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const n = sizes[i % sizes.length]!;
    out.push(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

const SPLITS = [[1], [7, 500], [511], [512], [513], [65_536], [1000, 24, 3, 70_000]];
// For whole uploads of 700 KB: tiny pieces among larger ones (700,000 one-byte chunks would only time the stream).
const UPLOAD_SPLITS = [[1, 2, 509, 4000], [7, 500], [511], [512], [513], [65_536], [1000, 24, 3, 70_000]];

describe("TarWalker", () => {
  const tarBytes = gnuTar("walk", { Dockerfile: "FROM scratch\n", "sub/a.bin": Buffer.alloc(1000, 1), [`${"deep-".repeat(30)}name.txt`]: "x", "empty.txt": "" });
  const file = path.join(dir, "walk.tar");
  writeFileSync(file, tarBytes);

  it.each(SPLITS)("agrees with scanTar and GNU tar whatever the chunks (%j…)", async (...sizes) => {
    const walker = new TarWalker();
    for (const piece of pieces(tarBytes, sizes)) walker.push(piece);
    const expected = await scanTar(file);
    expect(expected.files).toBe(listTar(tarBytes).length);
    expect(walker.finish()).toEqual(expected);
  });

  it("refuses what is not a tar as soon as its first header went by", () => {
    const walker = new TarWalker();
    walker.push(Buffer.alloc(100, 7));
    expect(() => walker.push(Buffer.alloc(412, 7))).toThrow(/not a tar archive/);
  });

  it("refuses a tar that stops inside an entry", () => {
    const walker = new TarWalker();
    const one = gnuTar("one", { "a.bin": Buffer.alloc(1000, 1) });
    // "./" (a header), "./a.bin" (a header and two blocks): cut inside a.bin's data.
    expect(listTar(one)).toEqual(["./a.bin"]);
    walker.push(one.subarray(0, 512 + 512 + 100));
    expect(() => walker.finish()).toThrow(/ends inside an entry/);
  });
});

describe("UploadingContext", () => {
  const data = randomBytes(700_000);
  const tarBytes = gnuTar("upload", { Dockerfile: "FROM busybox\n", "app/data.bin": data, "app/notes.txt": "notes\n" });
  const request = (bytes: Buffer, sizes: number[], contentLength: number | null = bytes.length) =>
    Object.assign(Readable.from(pieces(bytes, sizes)), { headers: contentLength === null ? {} : { "content-length": String(contentLength) } }) as unknown as IncomingMessage;
  const collect = async (upload: UploadingContext, chunkBytes = 64 * 1024) => {
    const out: Buffer[] = [];
    for await (const chunk of upload.chunks(chunkBytes)) {
      expect(chunk.length).toBeGreaterThan(0);
      expect(chunk.length).toBeLessThanOrEqual(chunkBytes);
      out.push(Buffer.from(chunk));
    }
    return Buffer.concat(out);
  };

  it.each(UPLOAD_SPLITS)("forwards the tar as it came (%j…), and tells the upload how many files it held", async (...sizes) => {
    const upload = new UploadingContext("id", "user", "host", tarBytes.length, null);
    const attached = upload.attach(request(tarBytes, sizes));
    const sent = await collect(upload);
    expect(sent.equals(tarBytes)).toBe(true);
    expect(await attached).toEqual({ bytes: tarBytes.length, files: listTar(tarBytes).length });
  });

  it.each(UPLOAD_SPLITS)("with the editor's Dockerfile (%j…): the tar up to its end, the Dockerfile, zeros up to the size announced; GNU tar reads the editor's last", async (...sizes) => {
    const dockerfile = gnuTar("editor", { Dockerfile: "FROM scratch\nCOPY app/ /app/\n" });
    // The appended entry is the editor tar's Dockerfile entry and its end blocks (what packAlone gives): header + one block + 2 zero blocks.
    const appended = dockerfile.subarray(512, 512 + 512 + 512 + 1024);
    expect(listTar(appended)).toEqual(["./Dockerfile"]);
    const upload = new UploadingContext("id", "user", "host", tarBytes.length, Buffer.from(appended));
    expect(upload.bytes).toBe(tarBytes.length + appended.length);
    upload.attach(request(tarBytes, sizes));
    const sent = await collect(upload, 512 * 1024);
    expect(sent.length).toBe(upload.bytes);
    writeFileSync(path.join(dir, "upload.tar"), tarBytes);
    const { end } = await scanTar(path.join(dir, "upload.tar"));
    expect(sent.subarray(0, end).equals(tarBytes.subarray(0, end))).toBe(true);
    expect(sent.subarray(end, end + appended.length).equals(appended)).toBe(true);
    expect(sent.subarray(end + appended.length).every((byte) => byte === 0)).toBe(true);
    const listed = listTar(sent);
    expect(listed.filter((name) => name === "./Dockerfile")).toHaveLength(2);
    // Extracted in order, the editor's Dockerfile is the one left.
    const out = path.join(dir, `extract-${sizes.join("-")}`);
    mkdirSync(out);
    execFileSync("tar", ["-C", out, "-xf", "-"], { input: sent });
    expect(readFileSync(path.join(out, "Dockerfile"), "utf8")).toBe("FROM scratch\nCOPY app/ /app/\n");
    expect(readFileSync(path.join(out, "app", "data.bin")).equals(data)).toBe(true);
  });

  it("refuses an upload that ends early, one larger than announced, one not of the size announced, and what is not a tar", async () => {
    const short = new UploadingContext("id", "user", "host", tarBytes.length, null);
    const shortAnswer = short.attach(request(tarBytes.subarray(0, 4096), [1024], null));
    await expect(collect(short)).rejects.toThrow(`The upload ended after 4096 of ${tarBytes.length} bytes`);
    await expect(shortAnswer).rejects.toThrow(/ended after 4096/);

    const long = new UploadingContext("id", "user", "host", 4096, null);
    long.attach(request(tarBytes, [1024], null));
    await expect(collect(long)).rejects.toThrow("The upload is larger than the 4096 bytes its build announced");

    const mismatch = new UploadingContext("id", "user", "host", 4096, null);
    await expect(mismatch.attach(request(tarBytes, [1024]))).rejects.toThrow(`The upload is ${tarBytes.length} bytes; its build announced 4096`);
    await expect(collect(mismatch)).rejects.toThrow(/its build announced 4096/);

    const junk = Buffer.alloc(8192, 7);
    const notTar = new UploadingContext("id", "user", "host", junk.length, null);
    const notTarAnswer = notTar.attach(request(junk, [8192]));
    await expect(collect(notTar)).rejects.toThrow(/not a tar archive/);
    await expect(notTarAnswer).rejects.toThrow(/not a tar archive/);
  });

  it("an upload attaches once; aborting (the build ended) answers the upload and stops the build's reading", async () => {
    const upload = new UploadingContext("id", "user", "host", tarBytes.length, null);
    const first = upload.attach(request(tarBytes, [65_536]));
    await expect(upload.attach(request(tarBytes, [65_536]))).rejects.toThrow(/already uploaded/);
    const chunks = upload.chunks(65_536);
    expect((await chunks.next()).done).toBe(false);
    upload.abort(new AppError("CONFLICT", "The build ended before its context was uploaded: Cancelled"));
    await expect(first).rejects.toThrow("The build ended before its context was uploaded: Cancelled");
    expect((await chunks.next()).done).toBe(true);
  });
});
