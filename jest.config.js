/** Jest in native ESM mode: NestJS 12 ships ES modules, which Jest only loads this way. */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/src', '<rootDir>/test'],
  testRegex: '\\.(spec|e2e-spec)\\.ts$',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: { '^.+\\.ts$': ['@swc/jest'] },
  testTimeout: 60000,
  // S3_TEST_BACKEND=rgw: one Ceph RGW for the whole run (nothing to do on the default, s3rver).
  globalSetup: '<rootDir>/test/support/backend-setup.ts',
  globalTeardown: '<rootDir>/test/support/backend-teardown.ts',
  // Jest's summary, then the suites that skipped themselves and why (Chromium missing, s3rver-only suites on RGW).
  reporters: ['default', '<rootDir>/test/support/skipped-reporter.ts'],
};
