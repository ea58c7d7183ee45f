import { describe, expect, it } from 'vitest';
import { CertificateRepository } from '../../../src/storage/repository.js';
import { MemoryStore } from '../../../src/storage/memory.js';
import { buildCertificate } from '../../../src/x509/parse.js';
import { createCa, issueCertificate } from '../../helpers/selfsigned.js';

const ca = await createCa();
const leaf = await issueCertificate(ca, { name: 'api', domains: ['api.example.test', '*.api.example.test'] });
const parsed = buildCertificate('api', leaf.domains, leaf.fullchain, leaf.key);

describe('CertificateRepository', () => {
  it('loads from stored facts exactly what parsing would give', async () => {
    const repo = new CertificateRepository(new MemoryStore());
    const version = await repo.save(parsed);
    const loaded = await repo.load('api');
    expect(loaded?.version).toBe(version);
    expect(loaded?.certificate).toEqual(parsed);
  });

  it('falls back to parsing when the stored facts do not belong to the leaf', async () => {
    const store = new MemoryStore();
    const repo = new CertificateRepository(store);
    const version = await repo.save(parsed);
    const metaKey = `certificates/api/${version}/meta.json`;
    const meta = JSON.parse(String(await store.get(metaKey)));
    await store.set(metaKey, JSON.stringify({ ...meta, notAfter: '2099-01-01T00:00:00.000Z', fingerprint256: 'AA:BB' }));
    expect((await repo.load('api'))?.certificate).toEqual(parsed);
    // versions written before the facts were stored load the same way
    const { notBefore: _a, notAfter: _b, keyType: _c, issuer: _d, fingerprint256: _e, ...old } = meta;
    await store.set(metaKey, JSON.stringify(old));
    expect((await repo.load('api'))?.certificate).toEqual(parsed);
  });

  it('a damaged version is a STORE_CORRUPT error', async () => {
    const store = new MemoryStore();
    const repo = new CertificateRepository(store);
    const version = await repo.save(parsed);
    await store.delete(`certificates/api/${version}/key.pem`);
    await expect(repo.load('api')).rejects.toMatchObject({ code: 'STORE_CORRUPT' });
  });
});
