/**
 * A client for the management API of pebble-challtestsrv (HTTP POST with a
 * JSON body; 200 on success, 400 with a plain-text reason otherwise).
 *
 * The API has no authentication and no read endpoint: the server answers
 * DNS for whatever it was told, and `/clear-txt` removes every value of a
 * host. The provider in `index.ts` builds exact append/delete on top.
 */
import { AbortError, ConfigError, DnsError, scrub } from '../../src/errors.js';

/** Options of {@link ChalltestsrvClient}. */
export interface ChalltestsrvClientOptions {
  /** Base URL of the management API, e.g. `http://127.0.0.1:8055`. */
  managementUrl: string;
  /** Bound on each HTTP request. @default 10000 */
  requestTimeoutMs?: number;
  /** The `fetch` to use (tests inject one). @default globalThis.fetch */
  fetch?: typeof globalThis.fetch;
}

/**
 * Thin typed wrapper over the management endpoints the DNS-01 provider and
 * the tests need. Hosts are sent as given: challtestsrv matches them
 * literally and case-sensitively, with the trailing dot (callers pass
 * lower-case FQDNs).
 *
 * @example
 * ```ts
 * const api = new ChalltestsrvClient({ managementUrl: 'http://127.0.0.1:8055' });
 * await api.setTxt('_acme-challenge.example.test.', 'value', signal);
 * ```
 */
export class ChalltestsrvClient {
  readonly #base: string;
  readonly #timeoutMs: number;
  readonly #fetch: typeof globalThis.fetch;

  constructor(options: ChalltestsrvClientOptions) {
    let url: URL;
    try {
      url = new URL(options.managementUrl);
    } catch {
      throw new ConfigError('INVALID_OPTIONS', `challtestsrv: managementUrl ${JSON.stringify(options.managementUrl)} is not a URL; use e.g. http://127.0.0.1:8055`);
    }
    this.#base = url.toString().replace(/\/+$/, '');
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  /** Adds one TXT value at `host` (a second call with the same value adds a duplicate). */
  setTxt(host: string, value: string, signal?: AbortSignal): Promise<void> {
    return this.#post('/set-txt', { host, value }, signal);
  }

  /** Removes every TXT value at `host`; succeeds when there is none. */
  clearTxt(host: string, signal?: AbortSignal): Promise<void> {
    return this.#post('/clear-txt', { host }, signal);
  }

  /** Makes `host` a CNAME to `target` (both FQDNs). */
  setCname(host: string, target: string, signal?: AbortSignal): Promise<void> {
    return this.#post('/set-cname', { host, target }, signal);
  }

  /** Removes the CNAME at `host`. */
  clearCname(host: string, signal?: AbortSignal): Promise<void> {
    return this.#post('/clear-cname', { host }, signal);
  }

  async #post(path: string, body: Record<string, string>, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw new AbortError(`challtestsrv: POST ${path} was aborted`, { cause: signal.reason });
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let response: Response;
    try {
      response = await this.#fetch(`${this.#base}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: combined,
      });
    } catch (error) {
      if (signal?.aborted) throw new AbortError(`challtestsrv: POST ${path} was aborted`, { cause: signal.reason });
      const reason = timeout.aborted ? `no answer within ${this.#timeoutMs} ms` : describeFetchError(error);
      throw new DnsError('DNS_PROVIDER_ERROR', `challtestsrv: POST ${path} to ${this.#base} failed: ${reason}. Is pebble-challtestsrv running with -management at that address?`, {
        retryable: true,
        details: { provider: 'challtestsrv', path },
      });
    }
    if (response.ok) {
      await response.body?.cancel();
      return;
    }
    const text = scrub((await response.text().catch(() => '')).trim().slice(0, 300));
    throw Object.assign(
      new DnsError('DNS_PROVIDER_ERROR', `challtestsrv: POST ${path} answered ${response.status}${text ? `: ${text}` : ''}`, {
        retryable: response.status >= 500,
        details: { provider: 'challtestsrv', path, status: response.status },
      }),
      { status: response.status },
    );
  }
}

/** fetch() hides the socket error in `cause` (ECONNREFUSED, …): surface it. */
function describeFetchError(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
  if (cause?.code) return cause.code;
  return scrub(cause?.message ?? (error instanceof Error ? error.message : String(error)));
}
