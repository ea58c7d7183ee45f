/**
 * Renewal state kept in the store (`state/<name>.json`): failure count, next
 * attempt, last error and the CA's ARI window. Persisted so a restart does
 * not reset the backoff into a retry storm.
 */
import type { Store } from '../storage/store.js';

/** What is remembered per name between restarts. */
export interface RenewalState {
  /** Consecutive failed attempts. */
  attempts: number;
  nextAttemptAt?: Date;
  lastError?: { message: string; code: string };
  /** The CA's suggested renewal window for the active certificate. */
  ari?: { start: Date; end: Date };
}

interface Stored { attempts?: number; nextAttemptAt?: string; lastError?: { message: string; code: string }; ari?: { start: string; end: string } }

const key = (name: string) => `state/${name}.json`;

/** Reads the state of `name`; anything missing or unreadable counts as a clean slate. */
export async function loadRenewalState(store: Store, name: string): Promise<RenewalState> {
  const raw = await store.get(key(name));
  if (!raw) return { attempts: 0 };
  let s: Stored;
  try { s = JSON.parse(raw.toString()) as Stored; } catch { return { attempts: 0 }; }
  const date = (v: unknown) => (typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? new Date(v) : undefined);
  const nextAttemptAt = date(s.nextAttemptAt);
  const start = date(s.ari?.start);
  const end = date(s.ari?.end);
  return {
    attempts: Number.isInteger(s.attempts) && s.attempts! > 0 ? s.attempts! : 0,
    ...(nextAttemptAt ? { nextAttemptAt } : {}),
    ...(s.lastError ? { lastError: { message: String(s.lastError.message), code: String(s.lastError.code) } } : {}),
    ...(start && end ? { ari: { start, end } } : {}),
  };
}

/** Writes the state of `name`. */
export async function saveRenewalState(store: Store, name: string, state: RenewalState): Promise<void> {
  const stored: Stored = {
    attempts: state.attempts,
    ...(state.nextAttemptAt ? { nextAttemptAt: state.nextAttemptAt.toISOString() } : {}),
    ...(state.lastError ? { lastError: state.lastError } : {}),
    ...(state.ari ? { ari: { start: state.ari.start.toISOString(), end: state.ari.end.toISOString() } } : {}),
  };
  await store.set(key(name), JSON.stringify(stored));
}
