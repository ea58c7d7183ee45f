/**
 * The retry ladder after failures: front-loaded (about 1 min, 10 min, 100 min,
 * then daily), with ±20 % jitter so a fleet that failed together does not
 * retry together.
 */
import { ConfigError } from '../errors.js';

/** The default ladder, in ms: the delay after the 1st, 2nd, 3rd and every later consecutive failure. */
export const DEFAULT_BACKOFF_MS: readonly number[] = Object.freeze([60_000, 600_000, 6_000_000, 86_400_000]);

/**
 * Delay before attempt `failures + 1`, given `failures` consecutive failures (≥ 1).
 * The last step of `ladder` repeats for every later failure.
 */
export function backoffDelay(failures: number, random: () => number = Math.random, ladder: readonly number[] = DEFAULT_BACKOFF_MS): number {
  const steps = ladder.length > 0 ? ladder : DEFAULT_BACKOFF_MS;
  const base = steps[Math.min(Math.max(failures, 1), steps.length) - 1]!;
  return Math.round(base * (0.8 + 0.4 * random()));
}

/** Throws a {@link ConfigError} unless `ladder` is undefined or a non-empty array of positive, finite ms values. */
export function assertBackoffLadder(ladder: unknown, option = 'retryBackoffMs'): void {
  if (ladder === undefined) return;
  if (!Array.isArray(ladder) || ladder.length === 0 || !ladder.every((v) => typeof v === 'number' && Number.isFinite(v) && v > 0)) {
    throw new ConfigError('INVALID_OPTIONS', `${option} must be a non-empty array of positive durations in ms (e.g. [60000, 600000, 6000000, 86400000]), got ${JSON.stringify(ladder)}`);
  }
}
