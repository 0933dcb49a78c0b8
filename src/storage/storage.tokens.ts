export const S3_CLIENT = Symbol('S3_CLIENT');
export const CREDENTIAL_SOURCE = Symbol('CREDENTIAL_SOURCE');
/** A client for presigning only: same bucket and credentials, no default checksums (see storage.module.ts). */
export const S3_SIGNING_CLIENT = Symbol('S3_SIGNING_CLIENT');
