/**
 * Counts the HTTP requests Pebble serves, from its log: Pebble 2.4 logs one
 * line per ACME request, `Pebble <date> <time> <METHOD> <path> -> calling handler()`,
 * with the resource id cut off (`POST /authZ/`), so a line names the kind of request.
 */
import type { Pebble } from '../test/helpers/pebble.js';

const REQUEST = /^Pebble \S+ \S+ (GET|HEAD|POST) (\/\S*) -> calling handler\(\)/;
/** Management API paths (root download etc.) are not ACME traffic. */
const MANAGEMENT = /^\/(roots|intermediates|cert-status)/;

/** Requests per kind (`"POST /authZ/"` → count). */
export type RequestCounts = Record<string, number>;

/** Running totals of Pebble's requests since construction. */
export class CaRequestCounter {
  readonly #counts: RequestCounts = {};

  constructor(pebble: Pebble) {
    pebble.onLog((line) => {
      const match = REQUEST.exec(line);
      if (!match || MANAGEMENT.test(match[2]!)) return;
      const kind = `${match[1]} ${match[2]}`;
      this.#counts[kind] = (this.#counts[kind] ?? 0) + 1;
    });
  }

  /**
   * The totals so far. Waits `settleMs` first: the clients have their answers
   * before Pebble's log lines have crossed the pipe to this process.
   */
  async snapshot(settleMs = 250): Promise<RequestCounts> {
    await new Promise((resolve) => setTimeout(resolve, settleMs));
    return { ...this.#counts };
  }
}

/** `after - before`, per kind, dropping zeros. */
export function requestsBetween(before: RequestCounts, after: RequestCounts): RequestCounts {
  const out: RequestCounts = {};
  for (const [kind, count] of Object.entries(after)) {
    const delta = count - (before[kind] ?? 0);
    if (delta > 0) out[kind] = delta;
  }
  return out;
}
