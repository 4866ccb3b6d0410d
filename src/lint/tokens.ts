/** Kinds of lexical token the linter distinguishes in SQL and PL/pgSQL text. */
export type TokenKind =
  | 'word'
  | 'quoted-identifier'
  | 'string'
  | 'dollar-string'
  | 'number'
  | 'parameter'
  | 'operator'
  | 'punctuation'
  | 'comment'
  | 'space'
  | 'meta-command';

/** One token: `start` and `end` are UTF-16 indexes into the scanned text, `end` exclusive. */
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly start: number;
  readonly end: number;
  /** Upper-cased text of a `word` token, for keyword comparison. */
  readonly upper: string;
}

const WORD_START = /[A-Za-z_\u0080-\uffff]/;
const WORD_PART = /[A-Za-z0-9_$\u0080-\uffff]/;
const OPERATOR_CHARS = '+-*/<>=~!@#%^&|`?';
const PUNCTUATION_CHARS = '()[],;:.';

/**
 * Splits SQL or PL/pgSQL text into tokens, keeping comments and whitespace so that positions
 * stay exact. Never throws: an unterminated string or comment runs to the end of the text, which
 * is enough for the parser to report the real error.
 *
 * A backslash outside quotes starts a psql meta-command, which psql reads to the end of the line.
 */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let index = 0;

  const push = (kind: TokenKind, end: number): void => {
    const tokenText = text.slice(index, end);
    tokens.push({ kind, text: tokenText, start: index, end, upper: kind === 'word' ? tokenText.toUpperCase() : '' });
    index = end;
  };

  while (index < text.length) {
    const char = text[index];
    const next = text[index + 1] ?? '';

    if (/\s/.test(char)) {
      let end = index + 1;
      while (end < text.length && /\s/.test(text[end])) end += 1;
      push('space', end);
    } else if (char === '-' && next === '-') {
      const newline = text.indexOf('\n', index);
      push('comment', newline === -1 ? text.length : newline);
    } else if (char === '/' && next === '*') {
      push('comment', blockCommentEnd(text, index));
    } else if (char === '\\') {
      const newline = text.indexOf('\n', index);
      push('meta-command', newline === -1 ? text.length : newline);
    } else if (char === "'") {
      push('string', quotedEnd(text, index + 1, "'", false));
    } else if ((char === 'E' || char === 'e') && next === "'") {
      push('string', quotedEnd(text, index + 2, "'", true));
    } else if (/[BbXxNn]/.test(char) && next === "'") {
      push('string', quotedEnd(text, index + 2, "'", false));
    } else if ((char === 'U' || char === 'u') && next === '&' && (text[index + 2] === "'" || text[index + 2] === '"')) {
      const quote = text[index + 2];
      push(quote === "'" ? 'string' : 'quoted-identifier', quotedEnd(text, index + 3, quote, false));
    } else if (char === '"') {
      push('quoted-identifier', quotedEnd(text, index + 1, '"', false));
    } else if (char === '$') {
      const dollarTag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(text.slice(index, index + 200));
      if (dollarTag !== null) {
        const close = text.indexOf(dollarTag[0], index + dollarTag[0].length);
        push('dollar-string', close === -1 ? text.length : close + dollarTag[0].length);
      } else {
        let end = index + 1;
        while (end < text.length && /[0-9]/.test(text[end])) end += 1;
        push('parameter', end);
      }
    } else if (/[0-9]/.test(char) || (char === '.' && /[0-9]/.test(next))) {
      push('number', numberEnd(text, index));
    } else if (WORD_START.test(char)) {
      let end = index + 1;
      while (end < text.length && WORD_PART.test(text[end])) end += 1;
      push('word', end);
    } else if (char === ':' && next === '=') {
      push('operator', index + 2);
    } else if (char === ':' && next === ':') {
      push('operator', index + 2);
    } else if (char === '.' && next === '.') {
      push('operator', index + 2);
    } else if (PUNCTUATION_CHARS.includes(char)) {
      push('punctuation', index + 1);
    } else if (OPERATOR_CHARS.includes(char)) {
      let end = index + 1;
      while (end < text.length && OPERATOR_CHARS.includes(text[end])) {
        const pair = text.slice(end, end + 2);
        if (pair === '--' || pair === '/*') break;
        end += 1;
      }
      push('operator', end);
    } else {
      push('punctuation', index + 1);
    }
  }

  return tokens;
}

/** Returns the tokens that carry meaning, without whitespace and comments. */
export function significantTokens(tokens: readonly Token[]): Token[] {
  return tokens.filter((token) => token.kind !== 'space' && token.kind !== 'comment');
}

/**
 * Returns the value of a string token and, for each index of the value, the index in the token
 * text it came from. Handles standard strings with doubled quotes and dollar-quoted strings.
 * Escape strings (E'...') are decoded for the common escapes only.
 */
export function decodeStringToken(token: Token): { readonly value: string; readonly sourceIndexes: readonly number[] } {
  const text = token.text;

  if (token.kind === 'dollar-string') {
    const tagLength = text.indexOf('$', 1) + 1;
    const value = text.slice(tagLength, text.length - tagLength);
    return { value, sourceIndexes: value.split('').map((_, offset) => tagLength + offset) };
  }

  const isEscape = text[0] === 'E' || text[0] === 'e';
  const open = text.indexOf("'");
  let value = '';
  const sourceIndexes: number[] = [];
  for (let index = open + 1; index < text.length - 1; index += 1) {
    const char = text[index];
    if (char === "'" && text[index + 1] === "'") {
      value += "'";
      sourceIndexes.push(index);
      index += 1;
    } else if (isEscape && char === '\\' && index + 1 < text.length - 1) {
      const escaped = text[index + 1];
      const replacements: Record<string, string> = { n: '\n', t: '\t', r: '\r', b: '\b', f: '\f' };
      value += replacements[escaped] ?? escaped;
      sourceIndexes.push(index);
      index += 1;
    } else {
      value += char;
      sourceIndexes.push(index);
    }
  }
  return { value, sourceIndexes };
}

/** Returns the index of the first character at or after `from` that is not whitespace or inside a comment. */
export function skipSpaceAndComments(text: string, from: number): number {
  let index = from;
  for (;;) {
    while (index < text.length && /\s/.test(text[index])) index += 1;

    const pair = text.slice(index, index + 2);
    if (pair === '--') {
      const newline = text.indexOf('\n', index);
      index = newline === -1 ? text.length : newline;
    } else if (pair === '/*') {
      index = blockCommentEnd(text, index);
    } else {
      return index;
    }
  }
}

function blockCommentEnd(text: string, start: number): number {
  let depth = 0;
  let index = start;
  while (index < text.length) {
    const pair = text.slice(index, index + 2);
    if (pair === '/*') {
      depth += 1;
      index += 2;
    } else if (pair === '*/') {
      depth -= 1;
      index += 2;
      if (depth === 0) return index;
    } else {
      index += 1;
    }
  }
  return text.length;
}

function quotedEnd(text: string, contentStart: number, quote: string, backslashEscapes: boolean): number {
  let index = contentStart;
  while (index < text.length) {
    const char = text[index];
    if (backslashEscapes && char === '\\') {
      index += 2;
    } else if (char === quote && text[index + 1] === quote) {
      index += 2;
    } else if (char === quote) {
      return index + 1;
    } else {
      index += 1;
    }
  }
  return text.length;
}

function numberEnd(text: string, start: number): number {
  const match = /^(?:0[xX][0-9A-Fa-f_]+|0[oO][0-7_]+|0[bB][01_]+|(?:[0-9][0-9_]*)?(?:\.(?!\.)[0-9_]*)?(?:[eE][+-]?[0-9]+)?)/.exec(
    text.slice(start),
  );
  const length = match === null || match[0].length === 0 ? 1 : match[0].length;
  return start + length;
}
