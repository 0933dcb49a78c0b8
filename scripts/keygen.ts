/**
 * `npm run -s keygen [-- --readonly]`: prints one new API key as an environment assignment, `API_KEYS=<key>` (or
 * `API_KEYS_READONLY=<key>`), ready for `.env` or `eb setenv $(npm run -s keygen)`. A key is 32 random bytes
 * (256 bits) from the OS's CSPRNG in base64url: 43 characters the bearer syntax and the key list both accept.
 * To add a key to a list that already has some, append it after a comma; every instance needs the same list.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';

const USAGE = 'usage: npm run -s keygen [-- --readonly]';

function newApiKey(): string {
  return randomBytes(32).toString('base64url');
}

function main(argv: string[]): number {
  let readonly: boolean | undefined;
  try {
    ({ readonly } = parseArgs({ args: argv, options: { readonly: { type: 'boolean' } } }).values);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  process.stdout.write(`${readonly ? 'API_KEYS_READONLY' : 'API_KEYS'}=${newApiKey()}\n`);
  if (process.stdout.isTTY) {
    process.stderr.write(
      readonly
        ? 'A read-only key: GET and HEAD only. Hand it over on a safe channel; it is not stored anywhere.\n'
        : 'A read-write key (`-- --readonly` for a read-only one). Hand it over on a safe channel; it is not stored anywhere.\n',
    );
  }
  return 0;
}

process.exitCode = main(process.argv.slice(2));
