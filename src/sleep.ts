/** The one abortable wait every retry and poll loop uses. */
import { AbortError } from './errors.js';

/**
 * Waits `ms`, rejecting as soon as `signal` fires — with `onAbort()` when
 * given (so a provider can name itself), else an {@link AbortError} saying
 * which `what` was aborted.
 *
 * @example
 * ```ts
 * await sleep(250, signal); // rejects with code ABORTED when signal aborts
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal, onAbort?: () => Error, what = 'wait'): Promise<void> {
  const fail = () => onAbort?.() ?? new AbortError(`The ${what} was aborted`, { cause: signal?.reason });
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(fail());
    const abort = () => {
      clearTimeout(timer);
      reject(fail());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', abort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', abort, { once: true });
  });
}

/**
 * Exponential backoff with jitter for provider retries: `baseMs · 2^attempt`
 * capped at `capMs`, half of it fixed and half random so parallel callers spread out.
 *
 * @example
 * ```ts
 * await sleep(retryDelay(attempt, 200, 5_000), signal);
 * ```
 */
export function retryDelay(attempt: number, baseMs: number, capMs: number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** attempt);
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
