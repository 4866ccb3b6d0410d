/** Line and column of a position in a file, both counted from 1. Columns count code points. */
export interface Position {
  readonly line: number;
  readonly column: number;
}

/**
 * Text of one file with the conversions the linter needs: the parser reports statement locations
 * in UTF-8 bytes and error positions in code points, while the linter works in UTF-16 indexes.
 */
export class SourceText {
  readonly text: string;
  private readonly lineStarts: readonly number[];

  constructor(text: string) {
    this.text = text;

    const starts = [0];
    for (let index = 0; index < text.length; index += 1) {
      if (text.charCodeAt(index) === 10) starts.push(index + 1);
    }
    this.lineStarts = starts;
  }

  /** Returns the line and column of a UTF-16 index. */
  positionOf(index: number): Position {
    const clamped = Math.max(0, Math.min(index, this.text.length));

    let low = 0;
    let high = this.lineStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (this.lineStarts[middle] <= clamped) low = middle;
      else high = middle - 1;
    }

    const lineStart = this.lineStarts[low];
    const column = codePointCount(this.text, lineStart, clamped) + 1;
    return { line: low + 1, column };
  }

  /** Returns the text of a line counted from 1, without its line break. */
  lineText(line: number): string {
    const start = this.lineStarts[line - 1];
    if (start === undefined) return '';
    const next = this.lineStarts[line];
    const end = next === undefined ? this.text.length : next - 1;
    return this.text.slice(start, end).replace(/\r$/, '');
  }

  get lineCount(): number {
    return this.lineStarts.length;
  }
}

/**
 * Returns a function that converts UTF-8 byte offsets into `text` to UTF-16 indexes. The table it
 * builds once makes each conversion a binary search.
 */
export function createByteOffsetConverter(text: string): (byteOffset: number) => number {
  const byteStarts: number[] = [];
  const indexes: number[] = [];
  let bytes = 0;
  for (let index = 0; index < text.length; ) {
    const codePoint = text.codePointAt(index) ?? 0;
    byteStarts.push(bytes);
    indexes.push(index);
    bytes += utf8Length(codePoint);
    index += codePoint > 0xffff ? 2 : 1;
  }

  return (byteOffset) => {
    if (byteOffset >= bytes) return text.length;
    let low = 0;
    let high = byteStarts.length - 1;
    while (low < high) {
      const middle = (low + high + 1) >> 1;
      if (byteStarts[middle] <= byteOffset) low = middle;
      else high = middle - 1;
    }
    return indexes[low] ?? 0;
  };
}

/** Converts a count of code points from the start of `text` to a UTF-16 index. */
export function codePointOffsetToIndex(text: string, codePoints: number): number {
  let index = 0;
  for (let counted = 0; counted < codePoints && index < text.length; counted += 1) {
    const codePoint = text.codePointAt(index) ?? 0;
    index += codePoint > 0xffff ? 2 : 1;
  }
  return index;
}

function codePointCount(text: string, start: number, end: number): number {
  let count = 0;
  for (let index = start; index < end; index += 1) {
    const unit = text.charCodeAt(index);
    const isLowSurrogate = unit >= 0xdc00 && unit <= 0xdfff;
    if (!isLowSurrogate) count += 1;
  }
  return count;
}

function utf8Length(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  if (codePoint < 0x10000) return 3;
  return 4;
}
