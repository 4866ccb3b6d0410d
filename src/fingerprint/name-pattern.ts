/**
 * Returns whether `name` matches `pattern`, where `*` stands for any run of characters (dots
 * included) and every other character matches itself, case-sensitively. Patterns are compared with
 * unquoted names: `audit.*` matches every table of schema `audit`, `onevault_backup_*` every
 * schema whose name starts that way.
 */
export function matchesNamePattern(pattern: string, name: string): boolean {
  const escaped = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${escaped.join('.*')}$`, 's').test(name);
}

/** Returns whether `name` matches at least one of `patterns`. */
export function matchesAnyNamePattern(patterns: readonly string[] | undefined, name: string): boolean {
  return (patterns ?? []).some((pattern) => matchesNamePattern(pattern, name));
}
