import { AstBody, unwrap } from './ast';
import { CheckedFile, Detection, detectAt, statementsOf } from './detection';
import { VisitedStatement } from './walk';

/** Statements PostgreSQL rejects inside a transaction block. VACUUM is named by vacuumWords(), because ANALYZE shares its node. */
const NON_TRANSACTIONAL: ReadonlyMap<string, string> = new Map([
  ['CreatedbStmt', 'CREATE DATABASE'],
  ['DropdbStmt', 'DROP DATABASE'],
  ['AlterSystemStmt', 'ALTER SYSTEM'],
  ['CreateTableSpaceStmt', 'CREATE TABLESPACE'],
  ['DropTableSpaceStmt', 'DROP TABLESPACE'],
  ['CreateSubscriptionStmt', 'CREATE SUBSCRIPTION'],
]);

/**
 * OV501: psql -f without ON_ERROR_STOP runs every statement and goes on after errors, so only a
 * file that is one BEGIN ... COMMIT (or a single statement) is all-or-nothing: a failure inside
 * the transaction aborts it and the final COMMIT becomes a rollback.
 */
export function checkTransactionShape(file: CheckedFile): Detection[] {
  const detections: Detection[] = [];
  const topLevel = statementsOf(file).filter((statement) => statement.context.scope === 'top');
  const work = topLevel.filter((statement) => statement.type !== 'TransactionStmt');
  const hasBegin = topLevel.some((statement) => ['TRANS_STMT_BEGIN', 'TRANS_STMT_START'].includes(statement.node.kind));

  // A file that does not parse has statements the walker could not see.
  if (file.walk.statements.length === 0 && file.walk.errors.length === 0) {
    return [{ code: 'OV501', message: 'file has no statement, so it is not one BEGIN ... COMMIT: add the migration or delete the file', index: 0 }];
  }

  let state: 'before' | 'open' | 'closed' = 'before';
  let begin: VisitedStatement | undefined;
  let reportedOutside = false;

  for (const statement of topLevel) {
    if (statement.type === 'TransactionStmt') {
      const message = transactionProblem(statement, state);
      if (message !== undefined) detections.push(detectAt('OV501', statement, message));

      const kind: string = statement.node.kind;
      if (kind === 'TRANS_STMT_BEGIN' || kind === 'TRANS_STMT_START') {
        state = 'open';
        begin = statement;
      } else if ((kind === 'TRANS_STMT_COMMIT' || kind === 'TRANS_STMT_ROLLBACK') && state === 'open') {
        state = statement.node.chain === true ? 'open' : 'closed';
      }
      continue;
    }

    if (state === 'closed' && !reportedOutside) {
      detections.push(detectAt('OV501', statement, 'statement after COMMIT runs in a transaction of its own: if it fails, the work before COMMIT stays'));
      reportedOutside = true;
    } else if (state === 'before' && hasBegin && !reportedOutside) {
      detections.push(detectAt('OV501', statement, 'statement before BEGIN runs in a transaction of its own: if the rest fails, it stays'));
      reportedOutside = true;
    } else if (state === 'before' && work.length > 1 && !reportedOutside) {
      detections.push(detectAt('OV501', statement, `${work.length} statements run without BEGIN: psql commits each one that succeeds and goes on after one that fails`));
      reportedOutside = true;
    }

    const refused = statement.type === 'VacuumStmt' ? vacuumWords(statement) : NON_TRANSACTIONAL.get(statement.type);
    if (refused !== undefined && state === 'open') {
      detections.push(detectAt('OV501', statement, `${refused} cannot run inside a transaction block, so the whole file always rolls back`));
    }
  }

  if (state === 'open' && begin !== undefined) {
    detections.push(detectAt('OV501', begin, 'BEGIN has no COMMIT: when psql reaches the end of the file the server rolls everything back'));
  }

  for (const statement of statementsOf(file)) {
    if (statement.context.scope === 'top' || statement.context.inFunctionBody || statement.type !== 'TransactionStmt') continue;
    detections.push(detectAt('OV501', statement, `${transactionWord(statement)} inside a DO block fails with "invalid transaction termination" when the file runs inside BEGIN ... COMMIT`));
  }

  return detections;
}

/** OV502: backslash commands are read by psql only; pgAdmin and the migration runner send SQL to the server. */
export function checkMetaCommands(file: CheckedFile): Detection[] {
  return file.walk.metaCommands.map((command) => ({
    code: 'OV502' as const,
    message: `psql meta-command "${command.text.trim()}" runs only in psql: pgAdmin and the migration runner reject it`,
    index: command.start,
  }));
}

function transactionProblem(statement: VisitedStatement, state: 'before' | 'open' | 'closed'): string | undefined {
  const kind: string = statement.node.kind;
  const word = transactionWord(statement);

  switch (kind) {
    case 'TRANS_STMT_BEGIN':
    case 'TRANS_STMT_START':
      if (state === 'open') return `${word} inside an open transaction is ignored with a warning, so the file's transactions are not what they look like`;
      if (state === 'closed') return `second ${word} after COMMIT: a failure in this transaction leaves the first one committed`;
      return undefined;
    case 'TRANS_STMT_COMMIT':
      if (statement.node.chain === true) return 'COMMIT AND CHAIN commits the work so far and goes on in a new transaction, so the file is no longer all-or-nothing';
      if (state !== 'open') return 'COMMIT without BEGIN: the statements before it were already committed one by one';
      return undefined;
    case 'TRANS_STMT_ROLLBACK':
      return 'ROLLBACK at the top level of a migration undoes the file, or, after a COMMIT, runs outside any transaction';
    case 'TRANS_STMT_PREPARE':
    case 'TRANS_STMT_COMMIT_PREPARED':
    case 'TRANS_STMT_ROLLBACK_PREPARED':
      return `${word} hands the transaction to two-phase commit, outside what psql -f runs as one unit`;
    default:
      return undefined;
  }
}

/**
 * Names a VACUUM as written, with its FULL, FREEZE and ANALYZE options. Returns undefined for
 * ANALYZE without VACUUM, which PostgreSQL runs inside a transaction block.
 */
function vacuumWords(statement: VisitedStatement): string | undefined {
  if (statement.node.is_vacuumcmd !== true) return undefined;
  const options = (statement.node.options ?? []).map((option: AstBody) => String(unwrap(option, 'DefElem')?.defname ?? '').toUpperCase());
  const named = ['FULL', 'FREEZE', 'ANALYZE'].filter((option) => options.includes(option));
  return ['VACUUM', ...named].join(' ');
}

function transactionWord(statement: VisitedStatement): string {
  const words: Record<string, string> = {
    TRANS_STMT_BEGIN: 'BEGIN',
    TRANS_STMT_START: 'START TRANSACTION',
    TRANS_STMT_COMMIT: 'COMMIT',
    TRANS_STMT_ROLLBACK: 'ROLLBACK',
    TRANS_STMT_SAVEPOINT: 'SAVEPOINT',
    TRANS_STMT_RELEASE: 'RELEASE SAVEPOINT',
    TRANS_STMT_ROLLBACK_TO: 'ROLLBACK TO SAVEPOINT',
    TRANS_STMT_PREPARE: 'PREPARE TRANSACTION',
    TRANS_STMT_COMMIT_PREPARED: 'COMMIT PREPARED',
    TRANS_STMT_ROLLBACK_PREPARED: 'ROLLBACK PREPARED',
  };
  return words[String(statement.node.kind)] ?? 'transaction control';
}
