// @peculiar/x509 2.x needs a Reflect polyfill loaded before it (see its README).
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** A throw-away CA and a localhost server certificate it signed, as PEM strings and files. */
export interface TestCa {
  /** Temp directory holding the PEM files. */
  dir: string;
  /** PEM of the CA certificate: trust this (`ca`, `caCertificates`) to reach the server. */
  caPem: string;
  caCertPath: string;
  /** PEM of the server certificate (SANs `localhost`, `127.0.0.1`, `::1`). */
  serverCertPem: string;
  /** PEM (PKCS#8) of the server certificate's private key. */
  serverKeyPem: string;
  serverCertPath: string;
  serverKeyPath: string;
}

const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/**
 * Generates a fresh ECDSA P-256 test CA and a server certificate for `localhost`, `127.0.0.1`
 * and `::1`, writes them as PEM files into a new temp directory (or `dir`) and returns both.
 */
export async function createTestCa(dir?: string): Promise<TestCa> {
  const outDir = dir ?? (await mkdtemp(path.join(tmpdir(), 'certpilot-ca-')));
  const notBefore = new Date(Date.now() - 60_000);
  const notAfter = new Date(Date.now() + 7 * 24 * 3600_000);
  const caKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    name: 'CN=certpilot test CA',
    keys: caKeys,
    notBefore,
    notAfter,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const serverKeys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const serverCert = await x509.X509CertificateGenerator.create({
    subject: 'CN=localhost',
    issuer: caCert.subject,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    notBefore,
    notAfter,
    signingAlgorithm: alg,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'localhost' },
        { type: 'ip', value: '127.0.0.1' },
        { type: 'ip', value: '::1' },
      ]),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caPem = caCert.toString('pem') + '\n';
  const serverCertPem = serverCert.toString('pem') + '\n';
  const serverKeyPem = toPem(await webcrypto.subtle.exportKey('pkcs8', serverKeys.privateKey), 'PRIVATE KEY');
  const caCertPath = path.join(outDir, 'ca.pem');
  const serverCertPath = path.join(outDir, 'server.pem');
  const serverKeyPath = path.join(outDir, 'server-key.pem');
  await writeFile(caCertPath, caPem);
  await writeFile(serverCertPath, serverCertPem);
  await writeFile(serverKeyPath, serverKeyPem, { mode: 0o600 });
  return { dir: outDir, caPem, caCertPath, serverCertPem, serverKeyPem, serverCertPath, serverKeyPath };
}
