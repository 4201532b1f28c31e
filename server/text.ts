/**
 * Text Postgres can store. Its text and jsonb types refuse the NUL character,
 * and Prisma's query encoding refuses lone UTF-16 surrogates (half an emoji,
 * e.g. after a string was cut in the middle of one): a query carrying either
 * fails as an internal error. Inputs are checked at the edge (tRPC, browser
 * socket) so such text is a clear 400, and what the server itself stores
 * (audit fields it slices) is made storable first.
 */

const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
const UNSTORABLE_ALL = new RegExp(UNSTORABLE.source, "g");

/** The text with NUL and lone surrogates replaced by U+FFFD. */
export function storableText(text: string): string {
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE_ALL, "\ufffd") : text;
}

/**
 * Where in `value` a string or key holds text Postgres cannot store, or null.
 * Walks iteratively with a budget, so deep or huge inputs cannot exhaust the stack.
 */
export function findUnstorableText(value: unknown, budget = 100_000): string | null {
  const stack: Array<{ value: unknown; path: string }> = [{ value, path: "" }];
  let visited = 0;
  while (stack.length > 0 && visited++ < budget) {
    const { value: current, path } = stack.pop()!;
    if (typeof current === "string") {
      if (UNSTORABLE.test(current)) return path || "(input)";
    } else if (Array.isArray(current)) {
      for (let i = 0; i < current.length; i++) stack.push({ value: current[i], path: `${path}[${i}]` });
    } else if (current && typeof current === "object" && !(current instanceof Date)) {
      for (const [key, item] of Object.entries(current)) {
        const next = path ? `${path}.${key}` : key;
        if (UNSTORABLE.test(key)) return storableText(next);
        stack.push({ value: item, path: next });
      }
    }
  }
  return null;
}

/** The refusal sent for such input. */
export function unstorableTextMessage(path: string): string {
  return `Invalid text at ${storableText(path).slice(0, 100)}: NUL characters and unpaired surrogates are not allowed`;
}
