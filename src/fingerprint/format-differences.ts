import type { FingerprintDifference, RowsChange } from './diff-fingerprints';
import type { AttributeValue } from './fingerprint';

const SHORT_VALUE_MAX_CHARS = 80;
const ROW_INDENT = '    ';

// Source text is reported by its first differing line, however short, because its whitespace
// and line breaks would make a raw "before → after" hard to read.
const SOURCE_TEXT_ATTRIBUTES: ReadonlySet<string> = new Set(['body', 'definition']);

/**
 * Renders differences as text, one line per difference, with listed rows on indented lines below
 * their table:
 *
 * ```text
 * + index auth.idx_foo
 * ~ column auth.t.c: default 'a'::text → 'b'::text
 * ~ function util.get_x(): body changed at line 3: "RETURN 1;" → "RETURN 2;"
 * ~ table auth.t rows: 3 → 4 (+1)
 *     + {"id":4,"name":"d"}
 * ```
 *
 * Returns `no differences` for an empty list.
 */
export function formatDifferences(differences: readonly FingerprintDifference[]): string {
  if (differences.length === 0) return 'no differences';
  return differences.flatMap(linesOf).join('\n');
}

function linesOf(difference: FingerprintDifference): string[] {
  if (difference.rows !== undefined) return rowsLinesOf(difference.name, difference.rows);

  const subject = `${difference.kind} ${difference.name}`;
  if (difference.change === 'added') return [`+ ${subject}${extentOf(difference)}`];
  if (difference.change === 'removed') return [`- ${subject}${extentOf(difference)}`];

  const attribute = wordsOf(difference.attribute ?? '');
  const before = difference.before ?? null;
  const after = difference.after ?? null;
  const change = SOURCE_TEXT_ATTRIBUTES.has(difference.attribute ?? '')
    ? `changed${firstDifferentLineOf(textOf(before), textOf(after))}`
    : valueChangeOf(before, after);
  return [`~ ${subject}: ${attribute} ${change}`];
}

function extentOf(difference: FingerprintDifference): string {
  const parts: string[] = [];
  if (difference.rowCount !== undefined) parts.push(`${difference.rowCount} ${difference.rowCount === 1 ? 'row' : 'rows'}`);
  if (difference.containedObjects !== undefined) parts.push(`${difference.containedObjects} objects inside`);
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`;
}

function rowsLinesOf(table: string, rows: RowsChange): string[] {
  const header = `~ table ${table} rows: ${rows.countBefore} → ${rows.countAfter}`;
  if (rows.added === null || rows.removed === null) {
    return [rows.countBefore === rows.countAfter ? `${header}, content changed` : header];
  }

  const counts = [rows.added.length > 0 ? `+${rows.added.length}` : '', rows.removed.length > 0 ? `-${rows.removed.length}` : '']
    .filter((part) => part !== '')
    .join(' ');
  return [
    `${header} (${counts})`,
    ...rows.removed.map((row) => `${ROW_INDENT}- ${row}`),
    ...rows.added.map((row) => `${ROW_INDENT}+ ${row}`),
  ];
}

function valueChangeOf(before: AttributeValue, after: AttributeValue): string {
  if (Array.isArray(before) && Array.isArray(after)) return arrayChangeOf(before, after);

  const beforeText = textOf(before);
  const afterText = textOf(after);
  if (isShort(beforeText) && isShort(afterText)) return `${beforeText} → ${afterText}`;

  return `changed${firstDifferentLineOf(beforeText, afterText)}`;
}

function arrayChangeOf(before: readonly string[], after: readonly string[]): string {
  const added = after.filter((item) => !before.includes(item));
  const removed = before.filter((item) => !after.includes(item));
  if (added.length === 0 && removed.length === 0) return `${textOf(before)} → ${textOf(after)}`;

  const parts: string[] = [];
  if (added.length > 0) parts.push(`+${textOf(added)}`);
  if (removed.length > 0) parts.push(`-${textOf(removed)}`);
  return parts.join(' ');
}

function firstDifferentLineOf(before: string, after: string): string {
  const beforeLines = before.split('\n');
  const afterLines = after.split('\n');
  const lineCount = Math.max(beforeLines.length, afterLines.length);
  const where = (index: number): string => (lineCount === 1 ? ':' : ` at line ${index + 1}:`);

  for (let index = 0; index < lineCount; index++) {
    const beforeLine = beforeLines[index];
    const afterLine = afterLines[index];
    if (beforeLine === afterLine) continue;
    return `${where(index)} ${quotedLineOf(beforeLine)} → ${quotedLineOf(afterLine)}`;
  }
  return '';
}

function quotedLineOf(line: string | undefined): string {
  if (line === undefined) return '(no line)';
  const trimmed = line.trim();
  return JSON.stringify(trimmed.length > SHORT_VALUE_MAX_CHARS ? `${trimmed.slice(0, SHORT_VALUE_MAX_CHARS)}…` : trimmed);
}

function textOf(value: AttributeValue): string {
  if (value === null) return '(none)';
  if (Array.isArray(value)) return `[${value.join(', ')}]`;
  return String(value);
}

function isShort(text: string): boolean {
  return text.length <= SHORT_VALUE_MAX_CHARS && !text.includes('\n');
}

// "notNull" → "not null", "acl" → "acl".
function wordsOf(attribute: string): string {
  return attribute.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}
