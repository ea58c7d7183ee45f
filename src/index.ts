/**
 * certpilot — keeps TLS certificates valid with no person in the loop.
 * @packageDocumentation
 */
export { CertificateManager } from './manager.js';
export type { CertificateManagerOptions, ProvisionSpec, RevokeOptions, CertificateStatus } from './manager.js';
export { AcmeIssuer } from './acme/issuer.js';
export type { AcmeIssuerOptions } from './acme/issuer.js';
export { ACME_DIRECTORIES } from './acme/directories.js';
export { LocalIssuer } from './local/issuer.js';
export type { LocalIssuerOptions, LocalCrl, LocalRevocation } from './local/issuer.js';
export type { RenewalInfo } from './acme/ari.js';
export type { Issuer, IssueRequest, IssueContext, IssueProgress, IssuedCertificate } from './issuer.js';
export { REVOCATION_REASON_CODES } from './issuer.js';
export { MemoryStore } from './storage/memory.js';
export { FileStore } from './storage/file.js';
export type { FileStoreOptions } from './storage/file.js';
export type { Store, StoreLock, StoreLockOptions, StoreSetOptions } from './storage/store.js';
export { CertificateRepository } from './storage/repository.js';
export { EncryptedStore } from './storage/encrypted.js';
export type { EncryptedStoreOptions } from './storage/encrypted.js';
export { onRotatedReload, ReloadError } from './storage/reload.js';
export type { ReloadAction, ReloadCommand, ReloadOptions, ReloadResult, ReloadHandle, RotationEmitter } from './storage/reload.js';
export { shareCertificates, shareCertificatesWithPort, workerCertificates, portCertificates, ClusterCertificateSource } from './tls/cluster.js';
export type { ShareOptions, PortLike, CertificateChannel, ClusterSourceEvents, ClusterSourceOptions } from './tls/cluster.js';
export { verifyServed } from './tls/verify.js';
export type { VerifyServedOptions, ServedCheck } from './tls/verify.js';
export type { DnsProvider, DnsRecord, DnsCallOptions } from './challenges/provider.js';
export type { PropagationOptions } from './challenges/dns01.js';
export type { KeyType, CertificateInfo, ManagedCertificate } from './certificate.js';
export { KEY_TYPES } from './certificate.js';
export type * from './events.js';
export {
  CertpilotError, ConfigError, CertificateError, StoreError, LockError, AcmeError, RevocationError, DnsError, AbortError,
  isCertpilotError,
} from './errors.js';
export type { ErrorCode, CertpilotErrorOptions } from './errors.js';
export { renewalTime } from './renewal/window.js';
export { planRenewal } from './renewal/plan.js';
export type { RenewalPlan, RenewalReason } from './renewal/plan.js';
export type { RenewalPolicy } from './renewal/window.js';
export { normalizeDomain, normalizeDomains } from './domains.js';
