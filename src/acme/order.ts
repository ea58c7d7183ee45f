/**
 * One ACME order (RFC 8555 §7.4) with DNS-01: new order → authorizations →
 * present every TXT record → answer the challenges → wait for valid →
 * finalize with a CSR → download the chain. Cleanup of the records always runs.
 */
import { AcmeError } from '../errors.js';
import type { Dns01Challenge, Dns01Solver } from '../challenges/dns01.js';
import type { AcmeProblem } from './problems.js';
import { problemToError } from './problems.js';
import { poll, type PollOptions } from './poll.js';
import type { AcmeTransport } from './transport.js';
import { createCsr } from '../x509/keys.js';

interface Identifier { type: string; value: string }
interface Challenge { type: string; url: string; token: string; status: string; error?: AcmeProblem }
interface Authorization { identifier: Identifier; status: string; wildcard?: boolean; challenges: Challenge[] }
interface Order { status: string; authorizations: string[]; finalize: string; certificate?: string; error?: AcmeProblem }

/** What {@link runOrder} needs. */
export interface OrderRequest {
  domains: string[];
  keyPem: string;
  /** Extra newOrder fields (`profile`, `replaces`, `notAfter`). */
  extra?: Record<string, unknown>;
  preferredChain?: string;
  signal: AbortSignal;
  poll?: PollOptions;
}

/** Places and completes one order; resolves to the PEM chain the CA returned. */
export async function runOrder(transport: AcmeTransport, solver: Dns01Solver, request: OrderRequest): Promise<string> {
  const pollOptions: PollOptions = { ...request.poll, signal: request.signal };
  // The CSR takes milliseconds of CPU: build it while the CA validates instead of after.
  const csrReady = createCsr(request.domains, request.keyPem);
  csrReady.catch(() => undefined);
  const identifiers = request.domains.map((value) => ({ type: 'dns', value: value }));
  const created = await transport.postResource<Order>('newOrder', { identifiers, ...request.extra }, 'create the order');
  const orderUrl = created.headers.location;
  if (!orderUrl) throw new AcmeError('ACME_ERROR', 'The CA created an order but sent no order URL (Location header)', { retryable: true });
  let order = created.data;

  const pending: Array<{ authzUrl: string; challenge: Challenge; domain: string }> = [];
  const toPresent: Dns01Challenge[] = [];
  for (const authzUrl of order.authorizations) {
    const { data: authz } = await transport.post<Authorization>(authzUrl, null, 'read an authorization');
    if (authz.status === 'valid') continue;
    const domain = (authz.wildcard ? '*.' : '') + authz.identifier.value;
    const challenge = authz.challenges.find((c) => c.type === 'dns-01');
    if (!challenge) {
      throw new AcmeError('ACME_CHALLENGE_FAILED', `The CA offers no dns-01 challenge for ${domain}; certpilot validates with DNS-01 only`);
    }
    const keyAuthorizationDigest = await transport.client.getChallengeKeyAuthorization(challenge as never);
    pending.push({ authzUrl, challenge, domain });
    toPresent.push({ domain, keyAuthorizationDigest });
  }

  if (toPresent.length > 0) {
    const presented = await solver.present(toPresent, request.signal);
    try {
      await Promise.all(pending.map((p) => transport.post(p.challenge.url, {}, `answer the challenge for ${p.domain}`)));
      await Promise.all(
        pending.map((p) =>
          poll<Authorization>(
            `the authorization of ${p.domain}`,
            () => transport.post<Authorization>(p.authzUrl, null, 'read an authorization'),
            (a) => a.status === 'valid',
            (a) => (a.status === 'pending' ? undefined : challengeError(p.domain, a)),
            pollOptions,
          ),
        ),
      );
    } finally {
      await solver.cleanup(presented);
    }
  }

  if (order.status === 'pending') {
    order = await poll<Order>('the order to become ready', () => transport.post<Order>(orderUrl, null, 'read the order'),
      (o) => o.status === 'ready' || o.status === 'valid', (o) => orderError(o), pollOptions);
  }
  if (order.status === 'ready') {
    const csr = await csrReady;
    const finalized = await transport.post<Order>(order.finalize, { csr: csr.toString('base64url') }, 'finalize the order');
    order = finalized.data;
  }
  if (order.status !== 'valid') {
    order = await poll<Order>('the certificate to be issued', () => transport.post<Order>(orderUrl, null, 'read the order'),
      (o) => o.status === 'valid', (o) => orderError(o), pollOptions);
  }
  if (!order.certificate) throw new AcmeError('ACME_ERROR', 'The order is valid but the CA sent no certificate URL', { retryable: true });
  return downloadCertificate(transport, order.certificate, request.preferredChain);
}

async function downloadCertificate(transport: AcmeTransport, url: string, preferredChain?: string): Promise<string> {
  const resp = await transport.post<string>(url, null, 'download the certificate');
  if (!preferredChain) return String(resp.data);
  const links = parseAlternates(resp.headers.link);
  const candidates = [String(resp.data)];
  for (const link of links) candidates.push(String((await transport.post<string>(link, null, 'download an alternate chain')).data));
  const { X509Certificate } = await import('node:crypto');
  const match = candidates.find((pem) => {
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const top = blocks.at(-1);
    return top !== undefined && new X509Certificate(top).issuer.split('\n').some((l) => l === `CN=${preferredChain}`);
  });
  return match ?? candidates[0]!;
}

function parseAlternates(header: string | undefined): string[] {
  if (!header) return [];
  return [...String(header).matchAll(/<([^>]+)>\s*;\s*rel="?alternate"?/g)].map((m) => m[1]!);
}

function challengeError(domain: string, authz: Authorization): Error {
  const failed = authz.challenges.find((c) => c.error);
  const error = problemToError(`validate ${domain}`, failed?.error ?? { detail: `authorization is ${authz.status}` });
  return failed?.error ? error : new AcmeError('ACME_CHALLENGE_FAILED', error.message, { retryable: true });
}

function orderError(order: Order): Error | undefined {
  if (order.status === 'invalid') return problemToError('issue the certificate', order.error ?? { detail: 'the order became invalid' });
  return undefined;
}
