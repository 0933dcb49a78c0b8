/**
 * Every list setting is split here, on commas, spaces or semicolons in any mix, empty items dropped. EB's environment
 * properties have no comma and `eb create --envvars` splits on commas; spaces survive both.
 */
export function splitList(value: string | undefined): string[] {
  return (value ?? '').split(/[\s,;]+/).filter((item) => item.length > 0);
}
