/**
 * Secrets Berth must be able to read back (registry passwords), sealed at
 * rest with AES-256-GCM under a key that never enters the database:
 *
 *   - BERTH_SECRET_KEY (base64 of 32 random bytes), the same on every replica; or
 *   - `<BERTH_DATA_DIR>/secret-key`, generated on the first start (mode 0600).
 *
 * A sealed value is `v1.<key id>.<iv>.<ciphertext+tag>` (base64url parts);
 * the key id (first 8 bytes of SHA-256 of the key, hex) says which key sealed
 * it. The additional data binds a value to its purpose and row, so a
 * ciphertext copied into another row does not open there.
 *
 * Rotation: start with the new key as BERTH_SECRET_KEY and the old one as
 * BERTH_SECRET_KEY_PREVIOUS; values sealed with either open, and the server
 * re-seals every stored value under the new key at start
 * (services/registries.ts `resealRegistryPasswords`). Once it logged that it
 * is done, drop BERTH_SECRET_KEY_PREVIOUS.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

const VERSION = "v1";
const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export const SECRET_KEY_FILE = "secret-key";

export class SecretBoxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SecretBoxError";
  }
}

/** Parses a base64 (or base64url) 32-byte key, or says what is wrong with it (never echoing it). */
export function parseSecretKey(value: string, name: string): Buffer {
  const text = value.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) throw new SecretBoxError(`${name} must be base64 of 32 random bytes (e.g. \`openssl rand -base64 32\`)`);
  const key = Buffer.from(text.replace(/-/g, "+").replace(/_/g, "/"), "base64");
  if (key.length !== KEY_BYTES) throw new SecretBoxError(`${name} must decode to ${KEY_BYTES} bytes; it decodes to ${key.length}`);
  return key;
}

function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 16);
}

export class SecretBox {
  readonly currentKeyId: string;
  private readonly keys: Map<string, Buffer>;
  private readonly current: Buffer;

  /** `current` seals and opens; `previous` keys only open (rotation). */
  constructor(current: Buffer, previous: Buffer[] = []) {
    if (current.length !== KEY_BYTES) throw new SecretBoxError(`a secret key has ${KEY_BYTES} bytes`);
    this.current = current;
    this.currentKeyId = keyId(current);
    this.keys = new Map([...previous.map((k) => [keyId(k), k] as const), [this.currentKeyId, current]]);
  }

  /** Seals `plaintext` for `context` (e.g. `registry:<id>:password`). */
  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.current, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final(), cipher.getAuthTag()]);
    return [VERSION, this.currentKeyId, iv.toString("base64url"), body.toString("base64url")].join(".");
  }

  /** Opens a value sealed for the same `context`; throws SecretBoxError when it cannot. */
  open(sealed: string, context: string): string {
    const [version, id, ivText, bodyText, extra] = sealed.split(".");
    if (version !== VERSION || !id || !ivText || !bodyText || extra !== undefined) throw new SecretBoxError("not a sealed value");
    const key = this.keys.get(id);
    if (!key) throw new SecretBoxError(`sealed with a key this server does not have (key id ${id}): set BERTH_SECRET_KEY (or BERTH_SECRET_KEY_PREVIOUS) to the key it was sealed with`);
    const iv = Buffer.from(ivText, "base64url");
    const body = Buffer.from(bodyText, "base64url");
    if (iv.length !== IV_BYTES || body.length < TAG_BYTES) throw new SecretBoxError("sealed value is truncated");
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, iv);
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]).toString("utf8");
    } catch {
      throw new SecretBoxError("sealed value does not open: it was altered or belongs to another record");
    }
  }

  /** Whether `sealed` was made with a key other than the current one (it should be re-sealed). */
  isStale(sealed: string): boolean {
    return sealed.split(".")[1] !== this.currentKeyId;
  }
}

/**
 * The server's SecretBox: BERTH_SECRET_KEY, or the key file in the data dir
 * (created with mode 0600 on first start), plus BERTH_SECRET_KEY_PREVIOUS.
 */
export async function loadSecretBox(opts: { dataDir: string; key?: string; previousKey?: string }): Promise<{ box: SecretBox; source: "env" | "file" | "generated" }> {
  const previous = opts.previousKey ? [parseSecretKey(opts.previousKey, "BERTH_SECRET_KEY_PREVIOUS")] : [];
  if (opts.key) return { box: new SecretBox(parseSecretKey(opts.key, "BERTH_SECRET_KEY"), previous), source: "env" };
  const file = path.join(opts.dataDir, SECRET_KEY_FILE);
  if (existsSync(file)) {
    return { box: new SecretBox(parseSecretKey(await readFile(file, "utf8"), file), previous), source: "file" };
  }
  await mkdir(opts.dataDir, { recursive: true });
  const key = randomBytes(KEY_BYTES);
  try {
    // `wx`: two processes starting on one data dir never overwrite each other's key; the later one reads it.
    await writeFile(file, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    return { box: new SecretBox(parseSecretKey(await readFile(file, "utf8"), file), previous), source: "file" };
  }
  await chmod(file, 0o600);
  return { box: new SecretBox(key, previous), source: "generated" };
}
