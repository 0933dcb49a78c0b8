/**
 * Every list setting is split here: commas, spaces or semicolons, in any mix. EB's environment properties have no
 * comma and `eb create --envvars` splits on commas; spaces survive both. No list item can contain a separator.
 */
const SEPARATORS = /[\s,;]+/;

/** The items of a list setting, in order, without empty ones (`a,,b` and `a, b` are both two items). */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(SEPARATORS).filter((item) => item.length > 0);
}

/** How the boot message names the accepted form. */
export const LIST_FORM = 'a list (separated by spaces, commas or semicolons)';
