import { Dirent, promises as fs } from 'node:fs';
import path from 'node:path';

import { loadModule } from 'libpg-query';

import { OnevaultError } from '../errors';
import { checkInvisibleCharacters } from './check-characters';
import { checkBreakingChanges, checkConcurrentIndexes } from './check-compatibility';
import { checkCreateGuards, checkInsertGuards, checkUpdateConvergence } from './check-idempotency';
import { checkHistoryRemoval, checkRollbackBackups } from './check-rollback';
import { checkBroadGrants, checkRlsBypassingRoles } from './check-privileges';
import { checkPolicyWeakened, checkRowSecurityDisabled } from './check-row-security';
import { checkPgcryptoCalls, checkPublicPrivileges, checkSecurityDefinerSearchPath } from './check-security';
import { checkMetaCommands, checkTransactionShape } from './check-transactions';
import { Check, CheckedFile, Detection, MigrationKind } from './detection';
import { parseMigrationName, partnerFileName } from './migration-name';
import { FileReport, LintFinding, LintReport, WaivedFinding } from './report';
import { RuleCode, ruleOf } from './rules';
import { SourceText } from './source-text';
import { applyWaivers, findWaivers } from './waivers';
import { walkFile } from './walk';

/** Options of lintPaths. */
export interface LintOptions {
  /** Rule codes to leave out of the report. */
  readonly disable?: readonly RuleCode[];
}

const CHECKS: readonly Check[] = [
  checkCreateGuards,
  checkInsertGuards,
  checkUpdateConvergence,
  checkBreakingChanges,
  checkConcurrentIndexes,
  checkSecurityDefinerSearchPath,
  checkPublicPrivileges,
  checkPgcryptoCalls,
  checkRowSecurityDisabled,
  checkPolicyWeakened,
  checkBroadGrants,
  checkRlsBypassingRoles,
  checkTransactionShape,
  checkMetaCommands,
  checkRollbackBackups,
  checkHistoryRemoval,
  checkInvisibleCharacters,
];

const BYTE_ORDER_MARK = '\uFEFF';

const EXCERPT_MAX_CHARS = 80;

/**
 * Lints migration files and folders (each folder's `*.sql` files, not its subfolders) and returns
 * one report with the findings of every file. A folder entry named `*.sql` that is not a readable
 * file is reported as OV105. Never prints and never exits.
 *
 * Throws OnevaultError `INVALID_ARGUMENT` when a path cannot be read. SQL that does not parse is
 * not an error: it is reported as an OV001 finding.
 *
 * @example
 * const report = await lintPaths(['migrations']);
 * if (report.summary.findings > 0) console.log(report.files[0].findings[0].message);
 */
export async function lintPaths(paths: readonly string[], options: LintOptions = {}): Promise<LintReport> {
  const entries = await collectSqlEntries(paths);
  await loadModule();

  const disabled = new Set<string>(options.disable ?? []);
  const reports: FileReport[] = [];
  for (const entry of entries) {
    reports.push(entry.problem === undefined ? await lintFile(entry.path, disabled) : unreadableEntryReport(entry.path, entry.problem, disabled));
  }

  const findings = reports.reduce((total, report) => total + report.findings.length, 0);
  const waived = reports.reduce((total, report) => total + report.waived.length, 0);
  return { files: reports, summary: { files: reports.length, findings, waived } };
}

async function lintFile(filePath: string, disabled: ReadonlySet<string>): Promise<FileReport> {
  // psql and the runner skip a leading byte order mark, but the parser rejects it, so it is cut here and reported as OV504.
  const rawText = await readText(filePath);
  const hasByteOrderMark = rawText.startsWith(BYTE_ORDER_MARK);
  const text = hasByteOrderMark ? rawText.slice(BYTE_ORDER_MARK.length) : rawText;
  const source = new SourceText(text);
  const migration = parseMigrationName(path.basename(filePath));
  const kind: MigrationKind = migration?.kind ?? 'forward';
  const file: CheckedFile = { path: filePath, kind, source, walk: walkFile(text) };

  const detections: Detection[] = [...(await checkFileName(filePath)), ...parseErrors(file)];
  if (hasByteOrderMark) {
    detections.push({ code: 'OV504', message: 'file starts with a UTF-8 byte order mark (BOM): psql and the runner skip it, but a tool that sends the file unchanged fails on it', index: 0 });
  }
  for (const check of CHECKS) detections.push(...check(file));

  const applicable = unique(detections).filter((detection) => {
    const scope = ruleOf(detection.code).scope;
    return !disabled.has(detection.code) && (scope === 'all' || scope === kind);
  });

  const outcome = applyWaivers(applicable, findWaivers(file.walk.comments, source), source, disabled);
  const findings = [...outcome.kept, ...outcome.problems]
    .filter((detection) => !disabled.has(detection.code))
    .map((detection) => toFinding(detection, source))
    .sort((left, right) => left.line - right.line || left.column - right.column || left.code.localeCompare(right.code));
  const waived: WaivedFinding[] = outcome.waived
    .map(({ detection, waiver }) => ({ code: detection.code, line: source.positionOf(detection.index).line, reason: waiver.reason }))
    .sort((left, right) => left.line - right.line || left.code.localeCompare(right.code));

  return { path: filePath, findings, waived };
}

/** OV101 to OV104: the file name and its partner in the same folder. */
async function checkFileName(filePath: string): Promise<Detection[]> {
  const fileName = path.basename(filePath);
  const migration = parseMigrationName(fileName);
  if (migration === undefined) {
    return [{ code: 'OV103', message: `file name ${fileName} does not match V###__create_<name>.sql or V###__rollback_<name>.sql`, index: 0 }];
  }

  const siblings = await fs.readdir(path.dirname(filePath));
  const detections: Detection[] = [];

  const partner = partnerFileName(migration);
  if (!siblings.includes(partner)) {
    const code = migration.kind === 'forward' ? 'OV101' : 'OV102';
    const missing = migration.kind === 'forward' ? 'rollback' : 'forward';
    detections.push({ code, message: `${fileName} has no ${missing} file ${partner} beside it`, index: 0 });
  }

  const sameVersion = siblings
    .map((sibling) => parseMigrationName(sibling))
    .filter((other) => other !== undefined && other.version === migration.version && other.name !== migration.name);
  if (sameVersion.length > 0) {
    const others = [...new Set(sameVersion.map((other) => other!.name))].join(', ');
    detections.push({ code: 'OV104', message: `version V${migration.version} is also used by migration ${others}`, index: 0 });
  }

  return detections;
}

function parseErrors(file: CheckedFile): Detection[] {
  return file.walk.errors.map((error) => ({ code: 'OV001' as const, message: error.message, index: error.index }));
}

function toFinding(detection: Detection, source: SourceText): LintFinding {
  const rule = ruleOf(detection.code);
  const position = source.positionOf(detection.index);
  return {
    code: detection.code,
    rule: rule.title,
    severity: rule.severity,
    message: detection.message,
    fix: rule.fix,
    line: position.line,
    column: position.column,
    statement: detection.statement === undefined ? '' : excerptOf(detection.statement.text),
  };
}

function excerptOf(text: string): string {
  const collapsed = text.replace(/\s+/g, ' ').trim();
  return collapsed.length <= EXCERPT_MAX_CHARS ? collapsed : `${collapsed.slice(0, EXCERPT_MAX_CHARS - 3)}...`;
}

/** Drops repeated detections of one rule at one position (a BEGIN ATOMIC body is seen twice). */
function unique(detections: readonly Detection[]): Detection[] {
  const seen = new Set<string>();
  return detections.filter((detection) => {
    const key = `${detection.code}:${detection.index}:${detection.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A path to lint, or an entry named `*.sql` that cannot be linted and why. */
interface SqlEntry {
  readonly path: string;
  readonly problem?: string;
}

/**
 * Expands folders into their `*.sql` entries, sorted by name, and keeps files as given. An entry
 * of a folder that is not a readable file (a folder, a dangling symbolic link, a FIFO) is kept
 * with the reason, so that it is reported instead of skipped.
 */
async function collectSqlEntries(paths: readonly string[]): Promise<SqlEntry[]> {
  const entries: SqlEntry[] = [];

  for (const given of paths) {
    const stats = await fs.stat(given).catch((error: unknown) => {
      throw unreadable(given, error);
    });

    if (!stats.isDirectory()) {
      entries.push({ path: given });
      continue;
    }

    const children = await fs.readdir(given, { withFileTypes: true }).catch((error: unknown) => {
      throw unreadable(given, error);
    });
    const sqlChildren = children
      .filter((child) => child.name.toLowerCase().endsWith('.sql'))
      .sort((left, right) => (left.name < right.name ? -1 : 1));
    for (const child of sqlChildren) {
      const childPath = path.join(given, child.name);
      entries.push({ path: childPath, problem: await entryProblem(childPath, child) });
    }
  }

  const seen = new Set<string>();
  return entries.filter((entry) => {
    const key = path.resolve(entry.path);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Returns why a folder entry named `*.sql` cannot be linted as a file, or undefined when it can. */
async function entryProblem(entryPath: string, entry: Dirent): Promise<string | undefined> {
  if (entry.isFile()) return undefined;
  if (entry.isDirectory()) return 'is a folder, not a migration file';
  if (!entry.isSymbolicLink()) return 'is not a regular file (a FIFO, socket or device)';

  const target = await fs.readlink(entryPath).catch(() => '?');
  try {
    const stats = await fs.stat(entryPath);
    if (stats.isFile()) return undefined;
    if (stats.isDirectory()) return `is a symbolic link to the folder ${target}, not to a migration file`;
    return `is a symbolic link to ${target}, which is not a regular file`;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code === 'ENOENT') return `is a symbolic link to ${target}, which does not exist`;
    return `is a symbolic link to ${target}, which cannot be read: ${String((error as Error)?.message ?? error)}`;
  }
}

/** OV105: a report for an entry named `*.sql` that is not a file, so that a missing migration is not skipped in silence. */
function unreadableEntryReport(entryPath: string, problem: string, disabled: ReadonlySet<string>): FileReport {
  if (disabled.has('OV105')) return { path: entryPath, findings: [], waived: [] };

  const rule = ruleOf('OV105');
  const finding: LintFinding = {
    code: 'OV105',
    rule: rule.title,
    severity: rule.severity,
    message: `${path.basename(entryPath)} ${problem}`,
    fix: rule.fix,
    line: 1,
    column: 1,
    statement: '',
  };
  return { path: entryPath, findings: [finding], waived: [] };
}

async function readText(filePath: string): Promise<string> {
  try {
    return await fs.readFile(filePath, 'utf8');
  } catch (error) {
    throw unreadable(filePath, error);
  }
}

function unreadable(given: string, error: unknown): OnevaultError {
  const reason = (error as NodeJS.ErrnoException)?.code === 'ENOENT' ? 'no such file or folder' : String((error as Error)?.message ?? error);
  return new OnevaultError('INVALID_ARGUMENT', `cannot read ${given}: ${reason}`, {
    hint: 'Pass migration files or folders that exist and are readable.',
    cause: error,
  });
}
