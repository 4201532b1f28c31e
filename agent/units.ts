/**
 * Docker's size strings ("512m", "1.5g", "256MiB", plain bytes), parsed as
 * the Docker CLI does (go-units RAMInBytes: binary multiples). Pure, with no
 * imports: shared by the server's input schemas and the console's forms, so
 * both sides accept exactly the same spellings.
 */
const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };
const SIZE = /^(\d+(?:\.\d+)?) ?([kmgtp]?)(?:i?b)?$/i;

/** Bytes for a Docker size string, or null if it is not one. "-1" is Docker's "unlimited" (memory-swap) and passes as -1. */
export function parseByteSize(text: string): number | null {
  const value = text.trim();
  if (value === "-1") return -1;
  const match = SIZE.exec(value);
  if (!match) return null;
  const bytes = Math.floor(Number(match[1]) * UNITS[match[2]!.toLowerCase()]!);
  return Number.isSafeInteger(bytes) ? bytes : null;
}
