/**
 * Every list setting is split here, on commas, spaces or semicolons in any mix, empty items dropped. EB's environment
 * properties have no comma and `eb create --envvars` splits on commas; spaces survive both.
 */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,;]+/).filter((item) => item.length > 0);
}

/** A prefix as a folder: `users/42` holds `users/42/a.png`, not `users/420/a.png` nor `users/42-admin.txt`. */
export const asFolder = (prefix: string): string => (prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`);
