/**
 * Every list setting (ALLOWED_HOSTS, TRUST_PROXY, API_KEYS, API_KEYS_READONLY, CORS_ORIGINS) is split here, once.
 * Items are separated by commas, spaces or semicolons, in any mix: Elastic Beanstalk's documented character set for
 * environment properties has no comma, and `eb create --envvars` splits its argument on commas, while spaces survive
 * both. No item of any list can contain one of these characters, so the split is never ambiguous.
 */
const SEPARATORS = /[\s,;]+/;

/** The items of a list setting, in order, without empty ones (`a,,b` and `a, b` are both two items). */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(SEPARATORS).filter((item) => item.length > 0);
}

/** How the boot message names the accepted form. */
export const LIST_FORM = 'a list (separated by spaces, commas or semicolons)';
