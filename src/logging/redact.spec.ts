import { createHash } from 'node:crypto';
import { redactCapabilities, tokenFingerprint } from './redact.js';

const SCOPE = 'eyJwIjoidXNlcnMvNDIvIiwibSI6NjcxMDg4NjQsImUiOjE3OTY1NTA2NzcsImkiOiJabXZZWVJlLVVVN0dCTGd3OXNxTGlBIn0';
const MAC = '3lV7R6mw9hAVvx3rBCwcVRfuVbrMk3jkuZ71H_VYf7c';
const TOKEN = `us1.${SCOPE}.${MAC}`;
const FINGERPRINT = createHash('sha256').update(TOKEN).digest('hex').slice(0, 8);

describe(redactCapabilities.name, () => {
  it.each([
    ['a Companion path', `/upload-sessions/${TOKEN}/s3/params`, `/upload-sessions/us1.…#${FINGERPRINT}/s3/params`],
    ['any case of the route', `/Upload-Sessions/${TOKEN}/s3`, `/Upload-Sessions/us1.…#${FINGERPRINT}/s3`],
    ['percent-encoded dots', `/upload-sessions/us1%2E${SCOPE}%2e${MAC}/s3`, `/upload-sessions/us1.…#${FINGERPRINT}/s3`],
    ['a token anywhere', `GET //x//${TOKEN} 404`, `GET //x//us1.…#${FINGERPRINT} 404`],
    ['a token in a JSON line', `{"msg":"Bearer ${TOKEN}"}`, `{"msg":"Bearer us1.…#${FINGERPRINT}"}`],
    [
      'a signed query string',
      '/p?X-Amz-Credential=AKIA%2F1&X-Amz-Signature=abc123&x-amz-security-token=FwoG&Signature=s',
      '/p?X-Amz-Credential=[redacted]&X-Amz-Signature=[redacted]&x-amz-security-token=[redacted]&Signature=[redacted]',
    ],
  ])('should redact %s', (_name, text, expected) => {
    expect(redactCapabilities(text)).toBe(expected);
  });

  it('should give one token one fingerprint however its dots are spelled', () => {
    expect(tokenFingerprint(TOKEN)).toBe(FINGERPRINT);
    expect(tokenFingerprint(`us1%2E${SCOPE}%2E${MAC}`)).toBe(FINGERPRINT);
  });

  it.each([
    '{"msg":"GET /files/photos/campus1.a.b 200"}',
    '{"msg":"POST /upload-sessions 201"}',
    '{"msg":"S3 answered SignatureDoesNotMatch"}',
  ])('should leave %s as it is', (text) => {
    expect(redactCapabilities(text)).toBe(text);
  });
});
