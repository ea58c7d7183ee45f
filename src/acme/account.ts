/**
 * The ACME account: its key lives in the manager's store, keyed by directory
 * URL and account name, and is reused across restarts. Registration happens
 * once per process (or again when the CA forgot the account).
 */
import { createHash } from 'node:crypto';
import type https from 'node:https';
import { ConfigError, isCertpilotError } from '../errors.js';
import type { Store } from '../storage/store.js';
import { generatePrivateKey } from '../x509/keys.js';
import { AcmeTransport, withSignal, type TransportOptions } from './transport.js';

/** Options of {@link AcmeAccount}. */
export interface AcmeAccountOptions extends TransportOptions {
  email?: string;
  termsOfServiceAgreed?: boolean;
  /** Name of the account under this directory, so one store can hold several. @default 'default' */
  accountName: string;
}

interface StoredAccount { url: string; directoryUrl: string; email?: string }

/** Store key prefix of an account: `accounts/<host>-<hash>/<accountName>`. */
export function accountPrefix(directoryUrl: string, accountName: string): string {
  let host = 'acme';
  try { host = new URL(directoryUrl).host.toLowerCase().replace(/[^a-z0-9.-]/g, '-'); } catch { /* validated elsewhere */ }
  const hash = createHash('sha256').update(directoryUrl).digest('hex').slice(0, 12);
  return `accounts/${host}-${hash}/${accountName}`;
}

/** One ACME account on one directory. */
export class AcmeAccount {
  private ready: Promise<AcmeTransport> | undefined;

  constructor(private readonly options: AcmeAccountOptions, private readonly agent: https.Agent) {}

  /** A transport signed by the account key, registered with the CA. */
  transport(store: Store, signal: AbortSignal): Promise<AcmeTransport> {
    this.ready ??= this.open(store, signal).catch((error) => {
      this.ready = undefined;
      throw error;
    });
    return this.ready;
  }

  /** Forgets the registration, e.g. after `accountDoesNotExist` (the CA was reset). */
  async reset(store: Store): Promise<void> {
    this.ready = undefined;
    await store.delete(`${accountPrefix(this.options.directoryUrl, this.options.accountName)}/account.json`);
  }

  private async open(store: Store, signal: AbortSignal): Promise<AcmeTransport> {
    const prefix = accountPrefix(this.options.directoryUrl, this.options.accountName);
    const key = await this.loadOrCreateKey(store, prefix, signal);
    const stored = await store.get(`${prefix}/account.json`);
    if (stored) {
      const account = JSON.parse(stored.toString()) as StoredAccount;
      if (account.directoryUrl === this.options.directoryUrl && account.url) {
        return new AcmeTransport(key, this.options, this.agent, account.url);
      }
    }
    const transport = new AcmeTransport(key, this.options, this.agent);
    await withSignal(signal, async () => {
      const directory = await transport.directory();
      const meta = (directory.meta ?? {}) as { termsOfService?: string; externalAccountRequired?: boolean };
      if (meta.termsOfService && this.options.termsOfServiceAgreed !== true) {
        throw new ConfigError('INVALID_OPTIONS', `The CA asks you to agree to its terms of service (${meta.termsOfService}): read them and pass termsOfServiceAgreed: true`);
      }
      if (meta.externalAccountRequired && !this.options.externalAccountBinding) {
        throw new ConfigError('INVALID_OPTIONS', 'This CA requires external account binding: pass externalAccountBinding: { kid, hmacKey } from your CA account');
      }
      const payload: Record<string, unknown> = { termsOfServiceAgreed: this.options.termsOfServiceAgreed === true };
      if (this.options.email) payload.contact = [`mailto:${this.options.email}`];
      const resp = await transport.postResource('newAccount', payload, 'register the ACME account', {
        kid: false,
        eab: Boolean(this.options.externalAccountBinding),
      });
      const url = resp.headers.location;
      if (!url) throw new ConfigError('INVALID_OPTIONS', 'The CA registered the account but sent no account URL (Location header)');
      transport.setAccountUrl(url);
      const record: StoredAccount = { url, directoryUrl: this.options.directoryUrl, ...(this.options.email ? { email: this.options.email } : {}) };
      await store.set(`${prefix}/account.json`, JSON.stringify(record, null, 2));
    });
    return transport;
  }

  private async loadOrCreateKey(store: Store, prefix: string, signal: AbortSignal): Promise<string> {
    const existing = await store.get(`${prefix}/key.pem`);
    if (existing) return existing.toString();
    // Two instances starting at once must not register two accounts: create the key under a lock.
    const lock = await store.lock(`${prefix}`, { signal });
    try {
      const again = await store.get(`${prefix}/key.pem`);
      if (again) return again.toString();
      const key = await generatePrivateKey('ecdsa-p256');
      await store.set(`${prefix}/key.pem`, key, { sensitive: true });
      return key;
    } finally {
      await lock.release().catch(() => undefined);
    }
  }
}

/** True for the error a CA sends when it no longer knows the account. */
export function isAccountGone(error: unknown): boolean {
  return isCertpilotError(error) && error.code === 'ACME_ACCOUNT_DOES_NOT_EXIST';
}
