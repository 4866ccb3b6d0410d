import { CheckedFile, Detection } from './detection';

/**
 * Characters that print as nothing, or as an ordinary space. PostgreSQL's lexer treats every
 * non-ASCII character as part of an identifier, so one of these glued to a name makes another
 * name, and inside a string it changes the stored value. Bidirectional controls can also make
 * code read differently from how it runs.
 */
const INVISIBLE_CHARACTERS = /[\u00A0\u00AD\u034F\u061C\u115F\u1160\u17B4\u17B5\u180E\u2000-\u200F\u2028-\u202F\u205F-\u2064\u2066-\u206F\u3000\u3164\uFEFF\uFFA0]/g;

const ZERO_WIDTH_JOINER = '\u200D';
const PICTOGRAPHIC = /\p{Extended_Pictographic}/u;

/**
 * OV505: invisible characters outside comments. A zero width joiner between two pictographic
 * characters is part of an emoji (as in a NOTICE text) and is allowed. A leading byte order mark
 * is stripped before this check and reported as OV504.
 */
export function checkInvisibleCharacters(file: CheckedFile): Detection[] {
  const text = file.source.text;
  const comments = file.walk.comments;
  const isInComment = (index: number): boolean => comments.some((comment) => index >= comment.index && index < comment.index + comment.text.length);
  const detections: Detection[] = [];

  for (const match of text.matchAll(INVISIBLE_CHARACTERS)) {
    const index = match.index ?? 0;
    if (isInComment(index)) continue;
    if (match[0] === ZERO_WIDTH_JOINER && isInsideEmoji(text, index)) continue;

    const codePoint = `U+${match[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, '0')}`;
    detections.push({ code: 'OV505', message: `invisible character ${codePoint}: PostgreSQL reads it as part of a name or a value, so the SQL is not what it looks like`, index });
  }

  return detections;
}

function isInsideEmoji(text: string, index: number): boolean {
  const before = text.slice(Math.max(0, index - 2), index);
  const after = String.fromCodePoint(text.codePointAt(index + 1) ?? 0);
  return PICTOGRAPHIC.test(before) && PICTOGRAPHIC.test(after);
}
