/**
 * Downloads a CRL: bounded in time and size, because the URL comes from a
 * certificate and the answer from a server we do not control. A CRL server
 * that hangs or streams without end must not stall the control loop or
 * fill the heap.
 */
import { CertificateError, CertpilotError, scrub } from '../errors.js';

/** The subset of the WHATWG `fetch` the checker uses (inject one for tests or a proxy). */
export type FetchLike = (url: string, init: { signal: AbortSignal; redirect: 'follow'; headers: Record<string, string> }) => Promise<Response>;

/** Limits of one download. */
export interface CrlFetchOptions {
  fetch: FetchLike;
  timeoutMs: number;
  maxBytes: number;
  signal?: AbortSignal;
}

function failure(url: string, problem: string, retryable: boolean, cause?: unknown): CertificateError {
  return new CertificateError('CERTIFICATE_CHECK_FAILED', `Could not fetch the CRL at ${url}: ${problem}`, {
    retryable, details: { url, stage: 'fetch' }, ...(cause === undefined ? {} : { cause }),
  });
}

/** Rejects once `signal` aborts; raced against every await, so a fetch or body stream that ignores the signal cannot hang. */
function abortion(signal: AbortSignal): { promise: Promise<never>; dispose: () => void } {
  let onAbort = () => undefined as void;
  const promise = new Promise<never>((_, reject) => {
    onAbort = () => reject(signal.reason);
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  promise.catch(() => undefined);
  return { promise, dispose: () => signal.removeEventListener('abort', onAbort) };
}

/** GETs `url` and returns the body; rejects with a typed error (`TIMEOUT`, `CERTIFICATE_CHECK_FAILED`) for anything else. */
export async function fetchCrl(url: string, options: CrlFetchOptions): Promise<Buffer> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
  const aborted = abortion(signal);
  let body: ReadableStreamDefaultReader<Uint8Array> | undefined;
  try {
    const res = await Promise.race([
      options.fetch(url, { signal, redirect: 'follow', headers: { accept: 'application/pkix-crl, application/x-pkcs7-crl;q=0.9, */*;q=0.5' } }),
      aborted.promise,
    ]);
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw failure(url, `the server answered HTTP ${res.status}`, res.status >= 500 || res.status === 429);
    }
    const declared = Number(res.headers.get('content-length') ?? Number.NaN);
    if (declared > options.maxBytes) {
      await res.body?.cancel().catch(() => undefined);
      throw failure(url, `it is ${declared} bytes, more than the limit of ${options.maxBytes}`, false);
    }
    if (!res.body) return Buffer.alloc(0);
    body = res.body.getReader();
    const chunks: Buffer[] = [];
    let size = 0;
    for (;;) {
      const { done, value } = await Promise.race([body.read(), aborted.promise]);
      if (done) return Buffer.concat(chunks, size);
      size += value.byteLength;
      // A missing or lying content-length is caught here, before the whole body is buffered.
      if (size > options.maxBytes) throw failure(url, `it is more than the limit of ${options.maxBytes} bytes`, false);
      chunks.push(Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    }
  } catch (error) {
    await body?.cancel().catch(() => undefined);
    if (error instanceof CertificateError) throw error;
    if (timeout.aborted) {
      throw new CertpilotError('TIMEOUT', `The CRL at ${url} did not arrive within ${options.timeoutMs} ms`, { retryable: true, details: { url, stage: 'fetch' } });
    }
    // undici hides the useful part (ECONNREFUSED, ENOTFOUND) in `cause`.
    const code = (error as { cause?: { code?: string } } | null)?.cause?.code;
    throw failure(url, scrub(code ?? (error instanceof Error ? error.message : String(error))), true, error);
  } finally {
    aborted.dispose();
  }
}
