import { Detection } from './detection';
import { findRule } from './rules';
import { SourceText } from './source-text';
import { FileComment } from './walk';

/** A `-- onevault:allow OV### reason` comment. */
export interface Waiver {
  /** Line of the comment, counted from 1. */
  readonly line: number;
  readonly index: number;
  readonly codes: readonly string[];
  readonly reason: string;
}

/** A finding that a waiver accepted. */
export interface WaivedDetection {
  readonly detection: Detection;
  readonly waiver: Waiver;
}

/** Result of applying the waivers of one file. */
export interface WaiverOutcome {
  readonly kept: readonly Detection[];
  readonly waived: readonly WaivedDetection[];
  /** OV002 and OV003 findings about the waivers themselves. */
  readonly problems: readonly Detection[];
}

const WAIVER = /^--\s*onevault:allow\b(.*)$/;
const CODE = /^OV\d{3}$/;
const CODE_LIST = /^OV\d{3}(?:,OV\d{3})*,?$/i;

/**
 * Finds every waiver of a file in its line comments, including those inside DO and function
 * bodies. Text that only looks like a waiver inside a string literal is not a comment, so it is
 * never a waiver.
 */
export function findWaivers(comments: readonly FileComment[], source: SourceText): Waiver[] {
  const waivers: Waiver[] = [];

  for (const comment of comments) {
    const match = WAIVER.exec(comment.text.replace(/\r$/, ''));
    if (match === null) continue;

    const words = match[1].trim().split(/\s+/);
    const codes: string[] = [];
    while (words.length > 0 && CODE_LIST.test(words[0])) {
      const list = words.shift() ?? '';
      codes.push(...list.split(',').filter((code) => code !== '').map((code) => code.toUpperCase()));
    }
    waivers.push({ line: source.positionOf(comment.index).line, index: comment.index, codes, reason: words.join(' ').trim() });
  }

  return waivers;
}

/**
 * Applies waivers to detections. A waiver covers findings on its own line and on the first code
 * line below it (comment lines in between are allowed, so waivers can be stacked). It also covers
 * a finding whose statement, or an enclosing DO block, function or IF, starts on such a line.
 * A finding about the whole file is covered by a waiver in the file's leading comment block.
 *
 * A waiver without a reason or with an unknown code waives nothing and is reported as OV002. A
 * valid waiver that covers nothing is reported as OV003, unless all its codes are in `disabledCodes`.
 */
export function applyWaivers(
  detections: readonly Detection[],
  waivers: readonly Waiver[],
  source: SourceText,
  disabledCodes: ReadonlySet<string> = new Set(),
): WaiverOutcome {
  const problems: Detection[] = [];
  const valid: Waiver[] = [];

  for (const waiver of waivers) {
    const problem = waiverProblem(waiver);
    if (problem === undefined) valid.push(waiver);
    else problems.push({ code: 'OV002', message: problem, index: waiver.index });
  }

  const headerEnd = leadingCommentEnd(source);
  const used = new Set<Waiver>();
  const kept: Detection[] = [];
  const waived: WaivedDetection[] = [];

  for (const detection of detections) {
    const lines = linesOf(detection, source);
    const waiver = valid.find((candidate) => {
      if (!candidate.codes.includes(detection.code)) return false;
      if (detection.statement === undefined) return candidate.line < headerEnd || lines.includes(candidate.line);
      return lines.some((line) => coveredLines(candidate, source).includes(line));
    });

    if (waiver === undefined || !findRule(detection.code)?.waivable) {
      kept.push(detection);
    } else {
      used.add(waiver);
      waived.push({ detection, waiver });
    }
  }

  for (const waiver of valid) {
    // A waiver for rules switched off in this run has nothing to match, and that is no fault of the file.
    if (used.has(waiver) || waiver.codes.every((code) => disabledCodes.has(code))) continue;
    problems.push({ code: 'OV003', message: `waiver for ${waiver.codes.join(', ')} matches no finding on the next statement`, index: waiver.index });
  }

  return { kept, waived, problems };
}

function waiverProblem(waiver: Waiver): string | undefined {
  if (waiver.codes.length === 0) return 'waiver names no rule code: write "-- onevault:allow OV### <reason>"';
  for (const code of waiver.codes) {
    if (!CODE.test(code) || findRule(code) === undefined) return `waiver names unknown rule ${code}`;
    if (!findRule(code)!.waivable) return `rule ${code} cannot be waived`;
  }
  if (waiver.reason === '') return `waiver for ${waiver.codes.join(', ')} has no reason: say why the rule does not apply here`;
  return undefined;
}

/** Lines a detection can be waived from: its own, its statement's and its enclosing statements' first lines. */
function linesOf(detection: Detection, source: SourceText): number[] {
  const indexes = [detection.index];
  if (detection.statement !== undefined) indexes.push(detection.statement.index, ...detection.statement.context.enclosing);
  return indexes.map((index) => source.positionOf(index).line);
}

/** Returns the waiver's own line and the first line below it that is not a comment or blank. */
function coveredLines(waiver: Waiver, source: SourceText): number[] {
  const lines = [waiver.line];
  for (let line = waiver.line + 1; line <= source.lineCount; line += 1) {
    const text = source.lineText(line).trim();
    if (text.startsWith('--')) continue;
    if (text !== '') lines.push(line);
    break;
  }
  return lines;
}

/** Returns the first line after the file's leading block of comments and blank lines. */
function leadingCommentEnd(source: SourceText): number {
  let line = 1;
  while (line <= source.lineCount) {
    const text = source.lineText(line).trim();
    if (text !== '' && !text.startsWith('--')) break;
    line += 1;
  }
  return line;
}
