/**
 * When to renew, from the certificate itself: by ratio of its lifetime, never
 * a fixed number of days (lifetimes shrink to 45 days and 160 hours).
 */

/** How early to renew: a ratio of the lifetime that should remain, or a duration in ms. */
export interface RenewalPolicy {
  /**
   * Renew when this share of the lifetime remains (0 < ratio < 1), or, when
   * greater than or equal to 1, this many milliseconds before expiry.
   * @default 1/3 (1/2 for lifetimes of 10 days or less)
   */
  renewBefore?: number;
}

const TEN_DAYS = 10 * 24 * 3600 * 1000;

/** The time at which a certificate valid from `notBefore` to `notAfter` is due for renewal. */
export function renewalTime(notBefore: Date, notAfter: Date, policy: RenewalPolicy = {}): Date {
  const start = notBefore.getTime();
  const end = notAfter.getTime();
  const lifetime = Math.max(0, end - start);
  const before = policy.renewBefore;
  let remaining: number;
  if (before === undefined) remaining = lifetime * (lifetime <= TEN_DAYS ? 1 / 2 : 1 / 3);
  else if (before > 0 && before < 1) remaining = lifetime * before;
  else remaining = Math.min(before, lifetime);
  return new Date(end - remaining);
}
