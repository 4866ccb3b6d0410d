import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Client } from 'pg';
import type { NoticeMessage } from 'pg-protocol/dist/messages';

import { registerTenant, type TenantRegistrationRequest } from '../../src/tenants';
import { validRequest, withRegistrationDatabase } from './fixtures';

interface ScannedColumn {
  readonly schema: string;
  readonly table: string;
  readonly column: string;
  readonly kind: 'text' | 'bytea';
}

/** Lists every column whose values could carry a secret as text or bytes: text-like, json, jsonb, bytea and arrays of them. */
async function scannableColumns(client: Client): Promise<ScannedColumn[]> {
  const result = await client.query<ScannedColumn>(
    `SELECT n.nspname AS schema, c.relname AS "table", a.attname AS column,
            CASE WHEN t.typname = 'bytea' THEN 'bytea' ELSE 'text' END AS kind
     FROM pg_attribute AS a
     JOIN pg_class AS c ON c.oid = a.attrelid
     JOIN pg_namespace AS n ON n.oid = c.relnamespace
     JOIN pg_type AS t ON t.oid = a.atttypid
     LEFT JOIN pg_type AS element ON element.oid = t.typelem AND t.typcategory = 'A'
     WHERE c.relkind IN ('r', 'p', 'm')
       AND a.attnum > 0 AND NOT a.attisdropped
       AND n.nspname NOT IN ('pg_catalog', 'information_schema')
       AND n.nspname NOT LIKE 'pg\\_toast%'
       AND (t.typname IN ('text', 'varchar', 'bpchar', 'name', 'json', 'jsonb', 'bytea', 'citext')
            OR element.typname IN ('text', 'varchar', 'bpchar', 'name', 'json', 'jsonb'))
     ORDER BY 1, 2, 3`,
  );
  return result.rows;
}

/** Returns `schema.table.column` for every column that contains one of the needles. */
async function findNeedles(client: Client, columns: readonly ScannedColumn[], textNeedles: readonly string[], byteNeedles: readonly Buffer[]): Promise<string[]> {
  const hits: string[] = [];
  for (const column of columns) {
    const name = `"${column.schema}"."${column.table}"."${column.column}"`;
    const from = `FROM "${column.schema}"."${column.table}"`;
    const sql =
      column.kind === 'bytea'
        ? `SELECT count(*) ${from} WHERE EXISTS (SELECT 1 FROM unnest($1::bytea[]) AS needle WHERE position(needle IN "${column.column}") > 0)`
        : `SELECT count(*) ${from} WHERE EXISTS (SELECT 1 FROM unnest($1::text[]) AS needle WHERE strpos("${column.column}"::text, needle) > 0)`;
    const result = await client.query<{ count: string }>(sql, [column.kind === 'bytea' ? byteNeedles : textNeedles]);
    if (Number(result.rows[0].count) > 0) hits.push(name);
  }
  return hits;
}

function sha256(data: string | Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** Returns the text and byte forms of each secret and of its unsalted SHA-256. */
function needlesOf(secrets: readonly string[]): { text: string[]; bytes: Buffer[] } {
  const text: string[] = [];
  const bytes: Buffer[] = [];
  for (const secret of secrets) {
    const digest = sha256(secret);
    text.push(secret, digest.toString('hex'), digest.toString('hex').toUpperCase(), digest.toString('base64'));
    bytes.push(Buffer.from(secret, 'utf8'), digest);
  }
  return { text, bytes };
}

describe('secret scan', () => {
  it('finds no password or unsalted hash', async () => {
    await withRegistrationDatabase(async (client) => {
      const notices: string[] = [];
      client.on('notice', (notice: NoticeMessage) => notices.push(`${notice.message ?? ''} ${notice.detail ?? ''} ${notice.hint ?? ''}`));

      const accepted = [validRequest({ admin_password: 'Xylophone-Accepted-1' }), validRequest({ admin_password: 'Xylophone-Accepted-2' })];
      const rejected: TenantRegistrationRequest[] = [
        validRequest({ tenant_name: 'x', admin_password: 'Xylophone-Rejected-1' }),
        validRequest({ admin_email: 'not an email', admin_password: 'Xylophone-Rejected-2' }),
        validRequest({ admin_password: 'XyloShort' }),
        { ...validRequest({ admin_password: 'Xylophone-Rejected-3' }), extra_secret: 'Xylophone-Rejected-3' } as TenantRegistrationRequest,
      ];
      const responses: unknown[] = [];
      for (const request of [...accepted, ...rejected]) responses.push(await registerTenant(client, request));

      // A database error in the middle of the load, with the password in its message.
      const failing = validRequest({ admin_password: 'Xylophone-Failed-1' });
      await client.query(
        `CREATE FUNCTION public.regw_leak() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'leak %', 'Xylophone-Failed-1' USING ERRCODE = 'check_violation'; END $$`,
      );
      await client.query('CREATE TRIGGER regw_leak BEFORE INSERT ON auth.user_auth_s FOR EACH ROW EXECUTE FUNCTION public.regw_leak()');
      responses.push(await registerTenant(client, failing));
      await client.query('DROP TRIGGER regw_leak ON auth.user_auth_s');
      await client.query('DROP FUNCTION public.regw_leak()');

      const requests = [...accepted, ...rejected, failing];
      assert.deepEqual(responses.map((response) => (response as { success: boolean }).success), [true, true, false, false, false, false, false]);

      const secrets = requests.map((request) => request.admin_password);
      // Hashes of whole requests too: a request contains its password.
      const requestTexts = requests.map((request) => JSON.stringify(request));
      const { text, bytes } = needlesOf(secrets);
      const requestDigests = requestTexts.map((requestText) => sha256(requestText));
      const jsonbTexts = await client.query<{ text: string }>('SELECT value::jsonb::text AS text FROM unnest($1::text[]) AS value', [requestTexts]);
      const jsonbDigests = jsonbTexts.rows.map((row) => sha256(row.text));

      const columns = await scannableColumns(client);
      assert.ok(columns.length > 50, `only ${columns.length} columns scanned`);
      const hits = await findNeedles(
        client,
        columns,
        [...text, ...[...requestDigests, ...jsonbDigests].map((digest) => digest.toString('hex'))],
        [...bytes, ...requestDigests, ...jsonbDigests],
      );
      assert.deepEqual(hits, []);

      // Controls: the same scan finds values that are stored on purpose, as text and as bytes.
      const emailHits = await findNeedles(client, columns, [accepted[0].admin_email], []);
      assert.ok(emailHits.includes('"auth"."user_profile_s"."email"'), `the scan missed the stored e-mail: ${emailHits.join(', ')}`);
      const keyHits = await findNeedles(client, columns, [], [sha256(accepted[0].tenant_name.toUpperCase())]);
      assert.ok(keyHits.includes('"auth"."tenant_h"."tenant_hk"'), `the scan missed the stored tenant key: ${keyHits.join(', ')}`);

      for (const secret of secrets) {
        assert.equal(notices.some((notice) => notice.includes(secret)), false, `a NOTICE contains ${secret}`);
        assert.equal(JSON.stringify(responses).includes(secret), false, `a response contains ${secret}`);
      }
    });
  });
});
