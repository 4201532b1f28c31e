/**
 * Reading a plain tar's headers (ustar/GNU: 512-byte blocks, an entry's data
 * padded to 512) without its contents: checked, counted, and where its
 * end-of-archive blocks start. What a build context is checked with before
 * Docker gets it.
 */
import { AppError } from "../errors.ts";

/**
 * A tar header's octal number: digits 0-7 only, padded with spaces or NULs.
 * Anything else is NaN: parseInt would take "-2000" (a size that walks the
 * scan backwards, forever) or stop quietly at the first stray character.
 */
function octalField(field: Buffer, empty = Number.NaN): number {
  const text = field.toString("latin1").replace(/\0.*$/s, "").trim();
  if (text === "") return empty;
  return /^[0-7]{1,12}$/.test(text) ? parseInt(text, 8) : Number.NaN;
}

/** What one 512-byte tar header says: the end of the archive (a zero block), or an entry: its data's size and whether it is a regular file. Throws for what is not a tar header. */
export function readTarHeader(header: Buffer): { end: true } | { end: false; size: number; file: boolean } {
  if (header.every((byte) => byte === 0)) return { end: true };
  const stored = octalField(header.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  if (!Number.isFinite(stored) || stored !== sum) throw new AppError("BAD_REQUEST", "The upload is not a tar archive (a header's checksum does not match)");
  const sizeField = header.subarray(124, 136);
  // GNU base-256 sizes (files over 8 GiB) start with 0x80: far beyond any context limit.
  const size = sizeField[0]! & 0x80 ? Infinity : octalField(sizeField, 0);
  if (!Number.isFinite(size)) throw new AppError("BAD_REQUEST", "The upload is not a tar archive (an entry's size cannot be read)");
  const type = String.fromCharCode(header[156]!);
  return { end: false, size, file: type === "0" || type === "\0" || type === "7" };
}

/** The offset of the header after an entry whose header starts at `at`. */
export const nextHeader = (at: number, size: number) => at + 512 + Math.ceil(size / 512) * 512;

/**
 * The same walk over a tar going by in chunks (an upload forwarded as it
 * arrives): nothing is held but a header cut between two chunks. `push` throws
 * as soon as a header is not a tar's; `finish` once every byte went by.
 */
export class TarWalker {
  files = 0;
  /** Where the end-of-archive blocks start, once seen (or, after `finish`, where the last entry ends). */
  end: number | null = null;
  /** Bytes seen. */
  private seen = 0;
  /** Where the next header starts. */
  private next = 0;
  private readonly header = Buffer.alloc(512);

  push(chunk: Buffer): void {
    const base = this.seen;
    this.seen += chunk.length;
    while (this.end === null && this.next < this.seen) {
      // The part of the next header in this chunk goes after what earlier chunks held of it.
      const from = Math.max(this.next, base);
      const upto = Math.min(this.next + 512, this.seen);
      chunk.copy(this.header, from - this.next, from - base, upto - base);
      if (upto < this.next + 512) return;
      const entry = readTarHeader(this.header);
      if (entry.end) this.end = this.next;
      else {
        if (entry.file) this.files++;
        this.next = nextHeader(this.next, entry.size);
      }
    }
  }

  /** Bytes known to lie before the archive's end: a header not yet whole may still turn out to be the end. */
  get settled(): number {
    return this.end ?? Math.min(this.next, this.seen);
  }

  finish(): { files: number; end: number } {
    if (this.end === null) {
      // As scanTar: a tar may stop at its last entry (no end blocks), not inside one.
      if (this.next > this.seen) throw new AppError("BAD_REQUEST", "The upload is not a tar archive (it ends inside an entry)");
      this.end = this.next;
    }
    return { files: this.files, end: this.end };
  }
}
