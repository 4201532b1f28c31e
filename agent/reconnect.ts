/**
 * The agent's ONE way back to the server. socket.io's own reconnection is off;
 * every lost, failed or refused connection comes through `schedule`, which
 * keeps at most one timer, so a refusal followed by the disconnect it causes
 * can never start two attempts.
 *
 * Backoff is exponential with jitter (half fixed, half random, so a fleet
 * restarted together does not reconnect in lockstep): from 1 s up to 30 s while
 * the server is merely unreachable, and from 5 s up to 10 minutes once it has
 * refused this agent (revoked key, duplicate identity) or failed verification:
 * a refusal will not change in a second, and every retry costs the server work.
 * A connection that authenticates resets it.
 */
export type ReconnectPolicy = { baseMs: number; capMs: number; refusedBaseMs: number; refusedCapMs: number };

export const DEFAULT_RECONNECT_POLICY: ReconnectPolicy = { baseMs: 1_000, capMs: 30_000, refusedBaseMs: 5_000, refusedCapMs: 10 * 60_000 };

/** The delay before attempt `failures + 1`: exponential, capped, then jittered into [d/2, d]. */
export function backoffDelay(policy: ReconnectPolicy, failures: number, refused: boolean, random: () => number = Math.random): number {
  const base = refused ? policy.refusedBaseMs : policy.baseMs;
  const cap = refused ? policy.refusedCapMs : policy.capMs;
  const exp = Math.min(cap, base * 2 ** Math.min(failures, 30));
  return Math.round(exp / 2 + (random() * exp) / 2);
}

export class Reconnector {
  private failures = 0;
  private refused = false;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly opts: {
      connect: () => void;
      log: (message: string) => void;
      policy?: ReconnectPolicy;
      random?: () => number;
    },
  ) {}

  /**
   * The server refused or failed verification: back off in minutes, not
   * seconds. The server's disconnect often arrives before its refusal is read,
   * so an attempt already planned on the short schedule is planned again.
   */
  noteRefused(): void {
    const wasRefused = this.refused;
    this.refused = true;
    if (wasRefused || !this.timer || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.failures = Math.max(0, this.failures - 1);
    this.schedule("refused");
  }

  /** Authenticated and verified: the next loss starts again from a short delay. */
  noteConnected(): void {
    this.failures = 0;
    this.refused = false;
  }

  /** Plans the next attempt, unless one is already planned. Returns the delay, or null if nothing was planned. */
  schedule(why: string): number | null {
    if (this.stopped || this.timer) return null;
    const delay = backoffDelay(this.opts.policy ?? DEFAULT_RECONNECT_POLICY, this.failures, this.refused, this.opts.random);
    this.failures += 1;
    this.opts.log(`${why}; reconnecting in ${delay >= 10_000 ? `${Math.round(delay / 1000)} s` : `${(delay / 1000).toFixed(1)} s`}`);
    this.timer = setTimeout(() => {
      this.timer = null;
      if (!this.stopped) this.opts.connect();
    }, delay);
    return delay;
  }

  get pending(): boolean {
    return this.timer !== null;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
