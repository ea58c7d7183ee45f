/**
 * Polling of ACME resources. Starts fast and backs off, because a CA may
 * answer in milliseconds (acme-client's 5-second minimum wastes seconds per
 * order), and honours `Retry-After` when the CA sends it.
 */
import { AcmeError } from '../errors.js';
import { sleep } from '../sleep.js';

export { sleep };
import { parseRetryAfter } from './problems.js';
import type { AcmeResponse } from './transport.js';

/** Options of {@link poll}. */
export interface PollOptions {
  /** First delay. @default 25 */
  initialDelayMs?: number;
  /** Largest delay between two polls (unless Retry-After asks for more). @default 2000 */
  maxDelayMs?: number;
  /** Give up after this long. @default 120000 */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Calls `fetch` until `done(resp.data)` is true; `failed(resp.data)` turns a
 * final bad state into an error. Backs off ×2 from `initialDelayMs` to `maxDelayMs`.
 */
export async function poll<T>(
  what: string,
  fetch: () => Promise<AcmeResponse<T>>,
  done: (data: T) => boolean,
  failed: (data: T) => Error | undefined,
  options: PollOptions = {},
): Promise<T> {
  const timeout = options.timeoutMs ?? 120_000;
  const maxDelay = options.maxDelayMs ?? 2_000;
  const deadline = Date.now() + timeout;
  let delay = options.initialDelayMs ?? 25;
  for (;;) {
    const resp = await fetch();
    if (done(resp.data)) return resp.data;
    const error = failed(resp.data);
    if (error) throw error;
    const retryAfter = parseRetryAfter(resp.headers['retry-after']);
    let wait = delay;
    if (retryAfter) wait = Math.max(wait, retryAfter.getTime() - Date.now());
    if (Date.now() + wait > deadline) {
      throw new AcmeError('TIMEOUT', `Timed out after ${timeout} ms waiting for ${what}; the CA may be slow — it will be retried`, { retryable: true });
    }
    await sleep(wait, options.signal);
    delay = Math.min(delay * 2, maxDelay);
  }
}
