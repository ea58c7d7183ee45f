/**
 * The retry ladder after failures: front-loaded (about 1 min, 10 min, 100 min,
 * then daily), with ±20 % jitter so a fleet that failed together does not
 * retry together.
 */
const LADDER_MS = [60_000, 600_000, 6_000_000, 86_400_000];

/** Delay before attempt `failures + 1`, given `failures` consecutive failures (≥ 1). */
export function backoffDelay(failures: number, random: () => number = Math.random): number {
  const base = LADDER_MS[Math.min(Math.max(failures, 1), LADDER_MS.length) - 1]!;
  return Math.round(base * (0.8 + 0.4 * random()));
}
