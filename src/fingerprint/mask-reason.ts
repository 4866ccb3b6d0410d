import type { MaskReason } from './fingerprint';

/** Column properties that the masking rule reads. */
export interface ColumnFacts {
  readonly name: string;
  /** Type name as `regtype` prints it, with a domain resolved to its base type. */
  readonly baseType: string;
  /** Default expression as `pg_get_expr` prints it, or null. */
  readonly defaultExpression: string | null;
  /** True for `GENERATED ... AS IDENTITY` columns. */
  readonly isIdentity: boolean;
}

const TEMPORAL_TYPES: ReadonlySet<string> = new Set([
  'date',
  'time without time zone',
  'time with time zone',
  'timestamp without time zone',
  'timestamp with time zone',
]);

const TIME_OF_RUN_NAME = /^(load_date|load_end_date)$|_(at|date|time|timestamp)$/;

const SEQUENCE_CALL = /\bnextval\s*\(/i;

const RANDOM_CALL = /\b(gen_random_uuid|uuid_generate_v1|uuid_generate_v1mc|uuid_generate_v4|gen_random_bytes|random)\s*\(/i;

const CLOCK_CALL =
  /\b(now|clock_timestamp|statement_timestamp|transaction_timestamp|timeofday)\s*\(|\b(CURRENT_TIMESTAMP|CURRENT_DATE|CURRENT_TIME|LOCALTIMESTAMP|LOCALTIME)\b/i;

/**
 * Returns why a column's value is expected to differ between two runs of the same migrations,
 * or null when the value is compared as it is. A masked column contributes only whether it is
 * NULL to the row text, because NULL versus a value still carries meaning (an open satellite
 * version has `load_end_date` NULL, a closed one has a value).
 *
 * The rule, checked in this order:
 * 1. identity columns (`GENERATED ... AS IDENTITY`): `identity`;
 * 2. defaults that call `nextval(...)` (serial columns): `sequence default`;
 * 3. defaults that call a random generator (`gen_random_uuid()`, `uuid_generate_v1/v1mc/v4()`,
 *    `gen_random_bytes()`, `random()`), whatever the column type: `random default`;
 * 4. defaults that read the clock (`now()`, `CURRENT_TIMESTAMP`, `CURRENT_DATE`, `CURRENT_TIME`,
 *    `LOCALTIMESTAMP`, `LOCALTIME`, `clock_timestamp()`, `statement_timestamp()`,
 *    `transaction_timestamp()`, `timeofday()`), whatever the column type: `clock default`;
 * 5. columns of type date, time or timestamp (with or without time zone, domains resolved) named
 *    `load_date` or `load_end_date`, or whose name ends in `_at`, `_date`, `_time` or
 *    `_timestamp`: `time-of-run name`.
 *
 * Values that a function computes from the clock or a random generator, outside a column
 * default, are not detected: callers leave such tables out with `ignoreTables`.
 */
export function maskReasonOf(column: ColumnFacts): MaskReason | null {
  if (column.isIdentity) return 'identity';

  const defaultExpression = column.defaultExpression ?? '';
  if (SEQUENCE_CALL.test(defaultExpression)) return 'sequence default';
  if (RANDOM_CALL.test(defaultExpression)) return 'random default';
  if (CLOCK_CALL.test(defaultExpression)) return 'clock default';

  if (TEMPORAL_TYPES.has(column.baseType) && TIME_OF_RUN_NAME.test(column.name)) return 'time-of-run name';

  return null;
}
