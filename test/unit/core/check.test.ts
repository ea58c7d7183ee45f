/** The checks before activation, and that a certificate failing them never replaces the active one. */
import { describe, expect, it } from 'vitest';
import { checkCertificate } from '../../../src/x509/check.js';
import { buildCertificate } from '../../../src/x509/parse.js';
import { CertificateManager } from '../../../src/manager.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { createCa, issueCertificate } from '../../helpers/selfsigned.js';
import { FakeIssuer } from '../../helpers/fake-issuer.js';
import type { IssueRequest, IssuedCertificate } from '../../../src/issuer.js';

const ca = await createCa();
const good = await issueCertificate(ca, { name: 'api', domains: ['api.example.test', '*.api.example.test'] });
const other = await issueCertificate(ca, { name: 'other', domains: ['other.example.test'] });

function codeOf(fn: () => unknown): string | undefined {
  try { fn(); } catch (e) { return (e as { code?: string }).code; }
  return undefined;
}

describe('checkCertificate', () => {
  it('accepts a good certificate', () => {
    expect(() => checkCertificate(good)).not.toThrow();
  });

  it('refuses a key that does not match', () => {
    const error = (() => { try { checkCertificate({ ...good, key: other.key }); } catch (e) { return e as Error; } return undefined; })();
    expect(error).toMatchObject({ code: 'CERTIFICATE_CHECK_FAILED' });
    expect(error!.message).toContain('private key does not match');
    expect(error!.message).not.toContain('PRIVATE KEY');
  });

  it('refuses a chain out of order', () => {
    const reversed = good.chain + good.cert;
    expect(codeOf(() => checkCertificate({ ...good, fullchain: reversed }))).toBe('CERTIFICATE_CHECK_FAILED');
  });

  it('refuses a certificate that does not cover a requested name', () => {
    const error = (() => { try { checkCertificate({ ...good, domains: [...good.domains, 'www.example.test'] }); } catch (e) { return e as Error; } return undefined; })();
    expect(error?.message).toContain('www.example.test');
  });

  it('refuses expired and not-yet-valid certificates', () => {
    expect(codeOf(() => checkCertificate(good, { now: good.notAfter.getTime() + 1 }))).toBe('CERTIFICATE_CHECK_FAILED');
    expect(codeOf(() => checkCertificate(good, { now: good.notBefore.getTime() - 3_600_000 }))).toBe('CERTIFICATE_CHECK_FAILED');
  });

  it('bad PEM input is a typed INVALID_PEM error', () => {
    expect(codeOf(() => buildCertificate('x', ['x.example.test'], 'not a pem', good.key))).toBe('INVALID_PEM');
    expect(codeOf(() => buildCertificate('x', ['x.example.test'], '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', good.key))).toBe('INVALID_PEM');
    expect(codeOf(() => buildCertificate('x', ['x.example.test'], good.fullchain, 'garbage'))).toBe('INVALID_PEM');
  });
});

describe('a failed check never replaces the active certificate', () => {
  it('keeps the active certificate and the store untouched when the issuer returns a bad one', async () => {
    const issuer = new FakeIssuer();
    const store = new MemoryStore();
    const manager = new CertificateManager({ store, issuer });
    const first = await manager.provision({ name: 'api', domains: ['api.example.test'] });
    const before = await store.list('certificates/api');
    // The next certificate comes back with someone else's key.
    const real = issuer.issue.bind(issuer);
    issuer.issue = async (request: IssueRequest): Promise<IssuedCertificate> => ({ ...(await real(request)), key: other.key });
    const failed: string[] = [];
    manager.on('certificate:failed', (e) => failed.push(e.error.code));
    await expect(manager.rotate('api')).rejects.toMatchObject({ code: 'CERTIFICATE_CHECK_FAILED' });
    expect(manager.get('api')!.serialNumber).toBe(first.serialNumber);
    expect(failed).toEqual(['CERTIFICATE_CHECK_FAILED']);
    expect(await store.list('certificates/api')).toEqual(before);
    await manager.close();
  });
});
