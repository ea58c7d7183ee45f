/**
 * The pure renewal decision: when a certificate should be renewed and why,
 * from its lifetime, the CA's ARI window, and the retry state. Pure so it can
 * be tested with any clock.
 */
import { createHash } from 'node:crypto';
import { renewalTime, type RenewalPolicy } from './window.js';

/** Why a renewal is planned when it is. */
export type RenewalReason =
  /** The lifetime ratio (a third remaining, half for short lifetimes) plus this certificate's offset. */
  | 'lifetime'
  /** A time the CA suggested through ACME Renewal Information. */
  | 'ari'
  /** The CA's ARI window already ended: the CA wants it replaced now (often a revocation). */
  | 'ari-window-passed'
  /** Waiting out the backoff after failed attempts. */
  | 'retry';

/** The outcome of {@link planRenewal}. */
export interface RenewalPlan { at: Date; reason: RenewalReason }

/** What {@link planRenewal} needs. */
export interface RenewalInput {
  notBefore: Date;
  notAfter: Date;
  serialNumber: string;
  policy?: RenewalPolicy;
  /** The CA's suggested window (ARI). */
  ari?: { start: Date; end: Date };
  /** The earliest next attempt after failures. */
  nextAttemptAt?: Date;
  now: number;
}

/**
 * A stable pseudo-random fraction in [0, 1) per certificate: renewal times are
 * spread across a fleet, yet the same after every restart and in `status()`.
 */
export function spreadFraction(serialNumber: string): number {
  return createHash('sha256').update(serialNumber).digest().readUInt32BE(0) / 2 ** 32;
}

/** Share of the renewal window (ratio point → expiry) over which renewals are spread. */
const SPREAD = 0.1;

/**
 * Plans the renewal. The lifetime ratio is the fallback and the emergency
 * floor: an ARI suggestion is followed, but never past the middle of the
 * lifetime-ratio window, so a CA that suggests too late cannot let a
 * certificate run out.
 */
export function planRenewal(input: RenewalInput): RenewalPlan {
  const ratio = renewalTime(input.notBefore, input.notAfter, input.policy).getTime();
  const remaining = Math.max(0, input.notAfter.getTime() - ratio);
  const fraction = spreadFraction(input.serialNumber);
  let plan: RenewalPlan = { at: new Date(ratio + fraction * SPREAD * remaining), reason: 'lifetime' };
  if (input.ari) {
    const floor = ratio + remaining / 2;
    if (input.ari.end.getTime() <= input.now) {
      plan = { at: new Date(input.now), reason: 'ari-window-passed' };
    } else {
      const start = input.ari.start.getTime();
      const selected = start + fraction * (input.ari.end.getTime() - start);
      plan = selected <= floor ? { at: new Date(selected), reason: 'ari' } : { at: new Date(floor), reason: 'lifetime' };
    }
  }
  if (input.nextAttemptAt && input.nextAttemptAt.getTime() > plan.at.getTime()) {
    plan = { at: input.nextAttemptAt, reason: 'retry' };
  }
  return plan;
}
