/** DI tokens of the storage module (the SDK client and the bucket it targets). */
export const S3_CLIENT = Symbol('S3_CLIENT');
export const S3_TARGET = Symbol('S3_TARGET');
export const CREDENTIAL_SOURCE = Symbol('CREDENTIAL_SOURCE');
/** A client for presigning only: same target and credentials, no default checksums (see storage.module.ts). */
export const S3_SIGNING_CLIENT = Symbol('S3_SIGNING_CLIENT');
