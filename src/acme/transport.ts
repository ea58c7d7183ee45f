/**
 * HTTP transport for acme-client without touching its process-wide axios
 * instance: each client's `http.request` is wrapped to add per-issuer trust
 * (`caCertificates`), keep-alive, timeouts and abort signals, to disable
 * acme-client's global 5-second retry ladder (the manager owns retries), and
 * to keep a pool of `Replay-Nonce` values so most requests need no extra
 * HEAD newNonce round trip.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createPrivateKey, type KeyObject } from 'node:crypto';
import https from 'node:https';
import acme from 'acme-client';
import { AbortError, AcmeError } from '../errors.js';
import { problemToError, type AcmeProblem } from './problems.js';

/** Options of {@link createTransport}. */
export interface TransportOptions {
  directoryUrl: string;
  /** PEM CA certificates that replace the default roots for the ACME server's HTTPS. */
  caCertificates?: string[];
  /** Per-request timeout. @default 30000 */
  requestTimeoutMs?: number;
  externalAccountBinding?: { kid: string; hmacKey: string };
}

/** A raw ACME response. */
export interface AcmeResponse<T = unknown> {
  status: number;
  data: T;
  headers: Record<string, string | undefined>;
}

const callSignal = new AsyncLocalStorage<AbortSignal | undefined>();

/** Runs `fn` so that every ACME request it makes is aborted by `signal`. */
export function withSignal<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
  return callSignal.run(signal, fn);
}

/** Counts requests per transport, for benchmarks and tests. */
export interface RequestCounter { count: number }

/**
 * An acme-client `Client` whose HTTP goes through certpilot's wrapper, plus a
 * `send` that returns raw responses and maps problems to typed errors.
 */
export class AcmeTransport {
  readonly client: acme.Client;
  readonly requests: RequestCounter = { count: 0 };
  private readonly nonces: string[] = [];

  constructor(accountKeyPem: string, private readonly options: TransportOptions, agent: https.Agent, accountUrl?: string) {
    this.client = new acme.Client({
      directoryUrl: options.directoryUrl,
      accountKey: accountKeyPem,
      ...(accountUrl ? { accountUrl } : {}),
      ...(options.externalAccountBinding ? { externalAccountBinding: options.externalAccountBinding } : {}),
    });
    // Not in acme-client's published types: the HttpClient instance that every request goes through.
    const http = (this.client as unknown as { http: HttpClientLike }).http;
    // Pebble in tests rejects up to half of all nonces; 5 retries would fail a sizeable share of orders.
    http.maxBadNonceRetries = 30;
    // acme-client signs every request with the PEM, so OpenSSL parses the key each time (~18 % of an
    // order's CPU). Compute the JWK from the PEM once, then sign with a parsed KeyObject.
    http.getJwk();
    http.accountKey = createPrivateKey(accountKeyPem);
    const original = http.request.bind(http);
    const timeout = options.requestTimeoutMs ?? 30_000;
    http.request = async (url: string, method: string, opts: Record<string, unknown> = {}) => {
      const signal = callSignal.getStore();
      if (signal?.aborted) throw new AbortError('The ACME request was aborted', { cause: signal.reason });
      this.requests.count++;
      let resp: AcmeResponse;
      try {
        resp = (await original(url, method, {
          ...opts,
          httpsAgent: agent,
          timeout,
          ...(signal ? { signal } : {}),
          // acme-client's shared interceptor retries up to 5 times with 5-second waits; starting past its
          // limit turns that off for our requests only (certpilot's own backoff decides when to retry).
          retryAttempt: 1_000,
        })) as AcmeResponse;
      } catch (error) {
        if (signal?.aborted) throw new AbortError('The ACME request was aborted', { cause: signal.reason });
        throw unreachable(url, error);
      }
      const nonce = resp.headers['replay-nonce'];
      // A nonce from a failed response is reused by acme-client's own badNonce retry; pooling it too would spend it twice.
      if (nonce && method !== 'head' && resp.status < 400 && this.nonces.length < 32) this.nonces.push(nonce);
      return resp;
    };
    const originalNonce = http.getNonce.bind(http);
    http.getNonce = async () => this.nonces.pop() ?? originalNonce();
  }

  /** Signed POST (or POST-as-GET when `payload` is null) to `url`; throws a typed error for any 4xx/5xx. */
  async post<T>(url: string, payload: unknown, operation: string, opts: { kid?: boolean; eab?: boolean } = {}): Promise<AcmeResponse<T>> {
    const api = (this.client as unknown as { api: ApiLike }).api;
    const resp = await api.apiRequest(url, payload, [], {
      includeJwsKid: opts.kid ?? true,
      includeExternalAccountBinding: opts.eab ?? false,
    });
    return this.check<T>(resp, operation);
  }

  /** Like {@link post} for a directory resource (`newAccount`, `newOrder`, `revokeCert`). */
  async postResource<T>(resource: string, payload: unknown, operation: string, opts: { kid?: boolean; eab?: boolean } = {}): Promise<AcmeResponse<T>> {
    const api = (this.client as unknown as { api: ApiLike }).api;
    const resp = await api.apiResourceRequest(resource, payload, [], {
      includeJwsKid: opts.kid ?? true,
      includeExternalAccountBinding: opts.eab ?? false,
    });
    return this.check<T>(resp, operation);
  }

  /** Unauthenticated GET (RFC 9773 renewalInfo); returns the raw response, whatever its status. */
  async get<T>(url: string): Promise<AcmeResponse<T>> {
    const http = (this.client as unknown as { http: HttpClientLike }).http;
    return (await http.request(url, 'get')) as AcmeResponse<T>;
  }

  /** The directory object (cached by acme-client for a day). */
  async directory(): Promise<Record<string, unknown>> {
    const http = (this.client as unknown as { http: HttpClientLike }).http;
    return withSignal(callSignal.getStore(), () => http.getDirectory());
  }

  /** Sets the account URL used as JWS `kid`. */
  setAccountUrl(url: string): void {
    (this.client as unknown as { api: ApiLike }).api.accountUrl = url;
  }

  private check<T>(resp: AcmeResponse, operation: string): AcmeResponse<T> {
    if (resp.status >= 400) {
      const problem = typeof resp.data === 'object' && resp.data !== null ? (resp.data as AcmeProblem) : undefined;
      throw problemToError(operation, problem, resp.status, resp.headers['retry-after']);
    }
    return resp as AcmeResponse<T>;
  }
}

/** Creates the keep-alive agent one issuer shares across its clients. */
export function createAgent(caCertificates?: string[]): https.Agent {
  return new https.Agent({ keepAlive: true, maxSockets: 16, ...(caCertificates?.length ? { ca: caCertificates } : {}) });
}

function unreachable(url: string, error: unknown): AcmeError {
  // acme-client's interceptor turns connection errors into a TypeError without the original cause;
  // only a short, secret-free description of the failure is kept.
  const code = (error as { code?: string } | null)?.code;
  let host = url;
  try { host = new URL(url).host; } catch { /* keep url */ }
  return new AcmeError(
    'ACME_UNREACHABLE',
    `ACME server ${host} is unreachable${code ? ` (${code})` : ''}: check the directory URL, the network and, for a private CA, caCertificates`,
    { retryable: true, details: { host } },
  );
}

interface HttpClientLike {
  maxBadNonceRetries: number;
  accountKey: Buffer | KeyObject;
  getJwk(): unknown;
  request(url: string, method: string, opts?: Record<string, unknown>): Promise<unknown>;
  getNonce(): Promise<string>;
  getDirectory(): Promise<Record<string, unknown>>;
}
interface ApiLike {
  accountUrl: string | null;
  apiRequest(url: string, payload: unknown, valid: number[], opts: Record<string, boolean>): Promise<AcmeResponse>;
  apiResourceRequest(resource: string, payload: unknown, valid: number[], opts: Record<string, boolean>): Promise<AcmeResponse>;
}
