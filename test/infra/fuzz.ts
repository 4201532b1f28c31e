/**
 * Seeded fuzzing helpers: a small PRNG, generators of malformed, oversized and
 * type-confused values, and mutations of valid payloads (mutating a valid
 * example reaches deeper into a handler than pure noise, which the first
 * schema check throws away).
 *
 * Everything is derived from one 32-bit seed, so a failure replays with
 * `BERTH_FUZZ_SEED=<seed>`.
 */

/** sfc32: fast, small state, good enough statistical quality for fuzzing. */
export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(readonly seed: number) {
    this.a = 0x9e3779b9;
    this.b = 0x243f6a88;
    this.c = 0xb7e15162;
    this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.next();
  }

  /** A float in [0, 1). */
  next(): number {
    this.a >>>= 0;
    this.b >>>= 0;
    this.c >>>= 0;
    this.d >>>= 0;
    let t = (this.a + this.b) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.d = (this.d + 1) | 0;
    t = (t + this.d) | 0;
    this.c = (this.c + t) | 0;
    return (t >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A child generator: phases stay reproducible on their own whatever the others drew. */
  fork(label: string): Rng {
    let h = this.seed ^ 0x811c9dc5;
    for (const ch of label) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193);
    return new Rng(h >>> 0);
  }
}

/** The run's seed: BERTH_FUZZ_SEED to replay one, a fresh one otherwise. */
export function fuzzSeed(): number {
  const fromEnv = process.env.BERTH_FUZZ_SEED;
  if (fromEnv === "random") return (Math.random() * 2 ** 32) >>> 0;
  if (fromEnv !== undefined && fromEnv !== "") {
    const seed = Number(fromEnv);
    if (!Number.isInteger(seed)) throw new Error(`BERTH_FUZZ_SEED must be an integer, got "${fromEnv}"`);
    return seed >>> 0;
  }
  // A fixed seed by default keeps CI reproducible (this one found three HTTP 500s once);
  // BERTH_FUZZ_SEED=random explores, and prints the seed to replay what it finds.
  return DEFAULT_FUZZ_SEED;
}

export const DEFAULT_FUZZ_SEED = 1_635_499_945;

/** Keys that have broken JavaScript servers before. */
export const NASTY_KEYS = ["__proto__", "constructor", "prototype", "toString", "valueOf", "hasOwnProperty", "then", "toJSON", "__defineGetter__", "", " ", "0", "-1", "length", "$where", "id", "ok", "type", "mode"];

export const NASTY_STRINGS = [
  "",
  " ",
  "NaN",
  "Infinity",
  "-Infinity",
  "1e309",
  "-0",
  "null",
  "undefined",
  "true",
  "[object Object]",
  "0x1F",
  "9007199254740993",
  "\u0000",
  "a\u0000b",
  "\ud800",
  "\udfff\ud800",
  "\u202e\u0041\u0042",
  "\u200b\u200c\u200d\ufeff",
  "👩‍👩‍👧‍👦🏴‍☠️",
  "ｆｕｌｌｗｉｄｔｈ",
  "Ω≈ç√∫˜µ≤≥÷",
  "'; DROP TABLE \"Host\"; --",
  "%s%s%s%n",
  "${process.exit(1)}",
  "<script>alert(1)</script>",
  "../../../../etc/passwd",
  "\r\n\r\nHTTP/1.1 200 OK",
  "2026-02-30T25:61:61Z",
  "2026-11-25T12:00:00.000Z",
  "0001-01-01T00:00:00Z",
  "+275760-09-13T00:00:00.000Z",
  "-----BEGIN PUBLIC KEY-----",
  "bjt_" + "A".repeat(40),
  "bat_" + "A".repeat(40),
  "f".repeat(64),
  "container.start",
  "host.ping",
  "container.logs",
];

const UNICODE_POOL = ["a", "Z", "0", " ", "\t", "\n", "é", "ß", "ж", "中", "𝕏", "🙂", "\u0000", "\u001f", "\u007f", "\u00a0", "\u2028", "\u2029", "\ud83d", "\ude00", "\u0301", "\"", "\\", "'", "`", "/", "<", ">", "&", "%", "{", "}"];

export function randomString(rng: Rng, maxLength = 80): string {
  const length = rng.int(maxLength + 1);
  let out = "";
  for (let i = 0; i < length; i++) out += rng.chance(0.6) ? String.fromCharCode(32 + rng.int(95)) : rng.pick(UNICODE_POOL);
  return out;
}

/** A string of `bytes` UTF-16 code units (up to a few MiB: enough to hit every limit, fast to send). */
export function hugeString(rng: Rng, bytes: number): string {
  const unit = rng.pick(["x", "é", "🙂", "\u0000", "ab", "{\"a\":"]);
  return unit.repeat(Math.max(1, Math.floor(bytes / unit.length)));
}

export function deepNest(rng: Rng, depth: number): unknown {
  let value: unknown = rng.pick([1, "leaf", null, [], {}]);
  const asArray = rng.chance(0.5);
  for (let i = 0; i < depth; i++) value = asArray ? [value] : { a: value };
  return value;
}

/** Sets an OWN enumerable property, even for "__proto__" (plain assignment would change the prototype). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function randomNumber(rng: Rng): number {
  return rng.pick([0, -0, 1, -1, 0.5, -1.5, 2 ** 31, 2 ** 31 - 1, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, -(2 ** 53), Number.MAX_VALUE, Number.MIN_VALUE, 1e21, 1e-7, NaN, Infinity, -Infinity, rng.int(1000), rng.next() * 1e6]);
}

/**
 * Any value, weighted towards what breaks parsers: wrong primitives, nasty
 * strings, prototype-pollution keys, arrays where objects go, deep and wide
 * structures, and (rarely) oversized ones.
 */
export function randomValue(rng: Rng, depth = 0, opts: { allowHuge?: boolean } = {}): unknown {
  const roll = rng.int(depth > 3 ? 8 : 14);
  switch (roll) {
    case 0:
      return null;
    case 1:
      return undefined;
    case 2:
      return rng.chance(0.5);
    case 3:
      return randomNumber(rng);
    case 4:
      return rng.pick(NASTY_STRINGS);
    case 5:
    case 6:
      return randomString(rng);
    case 7:
      return rng.pick([{}, [], "", 0, [null], [[]], { "": "" }]);
    case 8:
    case 9: {
      const length = rng.int(6);
      return Array.from({ length }, () => randomValue(rng, depth + 1, opts));
    }
    case 10:
    case 11: {
      const object: Record<string, unknown> = {};
      const count = rng.int(6);
      for (let i = 0; i < count; i++) setOwn(object, rng.chance(0.4) ? rng.pick(NASTY_KEYS) : randomString(rng, 12), randomValue(rng, depth + 1, opts));
      return object;
    }
    case 12:
      return deepNest(rng, rng.pick([20, 100, 500, 1500]));
    default:
      // Oversized values are rare (each costs real parsing on both sides) and mostly just past 64 KiB.
      if (opts.allowHuge === false || !rng.chance(0.25)) return randomString(rng, 2000);
      return rng.chance(0.5) ? hugeString(rng, rng.pick([70_000, 70_000, 300_000, 1_100_000])) : Array.from({ length: rng.pick([1_000, 20_000]) }, (_, i) => (rng.chance(0.5) ? i : { i }));
  }
}

function jsonLength(value: unknown): number {
  try {
    return JSON.stringify(value, jsonReplacer)?.length ?? 0;
  } catch {
    return 0;
  }
}

function clone<T>(value: T): T {
  if (Array.isArray(value)) return value.map(clone) as T;
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value)) setOwn(out, key, clone((value as Record<string, unknown>)[key]));
    return out as T;
  }
  return value;
}

type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number };

/** Every place in `root` a value could be replaced (depth-first). */
function slots(root: unknown): Slot[] {
  const out: Slot[] = [];
  const walk = (value: unknown) => {
    if (out.length > 5_000) return; // huge inputs: mutating their first few thousand places is plenty
    if (Array.isArray(value)) {
      value.forEach((item, index) => {
        out.push({ parent: value, key: index });
        walk(item);
      });
    } else if (value && typeof value === "object") {
      for (const key of Object.keys(value)) {
        out.push({ parent: value as Record<string, unknown>, key });
        walk((value as Record<string, unknown>)[key]);
      }
    }
  };
  walk(root);
  return out;
}

function mutateLeaf(rng: Rng, value: unknown, opts: { allowHuge?: boolean }): unknown {
  switch (rng.int(12)) {
    case 0:
      return randomValue(rng, 2, opts);
    case 1:
      return null;
    case 2:
      return undefined;
    case 3: // type confusion: the same information in another type
      if (typeof value === "string") return rng.chance(0.5) ? Number(value) : [value];
      if (typeof value === "number") return rng.chance(0.5) ? String(value) : { value };
      if (typeof value === "boolean") return rng.pick([String(value), Number(value), [value]]);
      if (Array.isArray(value)) return Object.fromEntries(value.map((v, i) => [i, v]));
      if (value && typeof value === "object") return Object.values(value);
      return "0";
    case 4:
      if (typeof value === "string") return rng.pick(["", value.slice(0, rng.int(value.length + 1)), value + rng.pick(NASTY_STRINGS), rng.pick(NASTY_STRINGS)]);
      if (typeof value === "number") return rng.pick([value + 1, value - 1, -value, value + 0.5, value * 2 ** 40, NaN]);
      return rng.pick(NASTY_STRINGS);
    case 5:
      if (typeof value === "string" && opts.allowHuge !== false) return value + hugeString(rng, rng.pick([200, 5_000, 5_000, 70_000, rng.chance(0.3) ? 600_000 : 70_000]));
      return randomString(rng, 300);
    case 6: {
      if (!Array.isArray(value) || value.length === 0) return [value, value];
      // Many copies of an element, up to ~1 MiB in all: big enough for any limit, quick to build and send.
      const itemSize = Math.max(16, jsonLength(value[0]));
      const wanted = rng.pick([2, 50, 100, opts.allowHuge === false ? 100 : 3_000]);
      return Array.from({ length: Math.max(2, Math.min(wanted, Math.floor(300_000 / itemSize))) }, () => clone(value[0]));
    }
    case 7:
      return deepNest(rng, rng.pick([10, 200, 1000]));
    case 8:
      return rng.chance(0.5) ? {} : [];
    default:
      return randomValue(rng, 1, opts);
  }
}

/**
 * A mutation of a valid payload: one to three edits at random places —
 * replace or retype a value, drop a required field, add unknown or
 * prototype-polluting fields, grow strings and arrays, wrap or swap the root.
 */
export function mutate<T>(rng: Rng, valid: T, opts: { allowHuge?: boolean } = {}): unknown {
  let root: unknown = clone(valid);
  const edits = 1 + rng.int(3);
  for (let n = 0; n < edits; n++) {
    const places = slots(root);
    const roll = rng.int(10);
    if (roll === 0 || places.length === 0) {
      root = rng.pick([[root], { value: root }, mutateLeaf(rng, root, opts), JSON.stringify(root, jsonReplacer) ?? "null"]);
      continue;
    }
    const slot = rng.pick(places);
    const container = slot.parent as Record<string | number, unknown>;
    if (roll === 1 && !Array.isArray(container)) {
      delete container[slot.key];
    } else if (roll === 2 && !Array.isArray(container)) {
      setOwn(container, rng.pick(NASTY_KEYS), randomValue(rng, 2, opts));
    } else if (roll === 3 && !Array.isArray(container)) {
      setOwn(container, randomString(rng, 20), randomValue(rng, 2, opts));
    } else {
      container[slot.key] = mutateLeaf(rng, container[slot.key], opts);
    }
  }
  return root;
}

/** A mix: mostly mutations of a valid example, some pure noise, some exact valid ones. */
export function fuzzInput(rng: Rng, valid: unknown, opts: { allowHuge?: boolean } = {}): { input: unknown; kind: "valid" | "mutated" | "random" } {
  const roll = rng.next();
  if (roll < 0.08) return { input: clone(valid), kind: "valid" };
  if (roll < 0.75) return { input: mutate(rng, valid, opts), kind: "mutated" };
  return { input: randomValue(rng, 0, opts), kind: "random" };
}

/** A short description of an input for failure messages (never the whole multi-MiB thing). */
export function describeInput(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value, jsonReplacer) ?? String(value);
  } catch (error) {
    text = `<${String(error)}>`;
  }
  return text.length > 300 ? `${text.slice(0, 300)}… (${text.length} chars)` : text;
}

/** JSON.stringify replacer that writes a bigint as its digits (JSON has none; superjson does). */
export function jsonReplacer(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value;
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function pool<T>(items: T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        await work(items[index]!, index);
      }
    }),
  );
}

/**
 * The envelope `superjson.serialize(value)` makes, `{ json: value }`, when that is all it makes, found in
 * one linear walk; `null` when superjson would do more (a value it annotates — undefined, NaN, ±Infinity,
 * -0, bigint, Date... —, an object reached twice, a non-plain object, a key it refuses, a sparse array, or
 * a depth near where its recursion overflows the stack). Then ask superjson itself.
 *
 * Why: superjson copies the path and the ancestors at every level, so its walk costs depth² per branch. A
 * fuzzed input of 150 copies of a 1,000-deep nest took it 41 s, more than the rest of a 300-call phase;
 * the request it encodes costs the server a millisecond. Same bytes on the wire for the same seed: the
 * fuzz test checks this function against superjson on every input small enough to ask both.
 */
export function plainSuperjsonEnvelope(value: unknown, stats: { depth: number; nodes: number } = { depth: 0, nodes: 0 }): { json: unknown } | null {
  const seen = new Set<object>();
  // An explicit stack: the nests here go deeper than a recursive walk should.
  const stack: Array<[unknown, number]> = [[value, 0]];
  while (stack.length > 0) {
    const [item, depth] = stack.pop()!;
    stats.nodes++;
    if (depth > stats.depth) stats.depth = depth;
    if (item === null || typeof item === "string" || typeof item === "boolean") continue;
    if (typeof item === "number") {
      if (!Number.isFinite(item) || Object.is(item, -0)) return null;
      continue;
    }
    if (typeof item !== "object") return null;
    // superjson's recursion overflows the stack somewhere past 1,250 levels here (it then throws and the
    // fuzz test sends the input unwrapped): far below that, the two agree.
    if (depth >= PLAIN_ENVELOPE_MAX_DEPTH || seen.has(item)) return null;
    seen.add(item);
    if (Array.isArray(item)) {
      for (let i = 0; i < item.length; i++) {
        if (!(i in item)) return null;
        stack.push([item[i], depth + 1]);
      }
      continue;
    }
    if (Object.getPrototypeOf(item) !== Object.prototype) return null;
    if (Object.getOwnPropertySymbols(item).length > 0) return null;
    for (const key of Object.keys(item)) {
      if (key === "__proto__" || key === "constructor" || key === "prototype") return null;
      stack.push([(item as Record<string, unknown>)[key], depth + 1]);
    }
  }
  return { json: value };
}

/** Deeper than this, {@link plainSuperjsonEnvelope} leaves the answer to superjson (which overflowed at ~1,300-1,500). */
export const PLAIN_ENVELOPE_MAX_DEPTH = 1_100;
