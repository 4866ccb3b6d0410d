import type { Command } from 'commander';

import { withDatabaseSession } from '../../connection/session';
import { OnevaultError } from '../../errors';
import { getTenant, listTenants, registerTenant, type ApiResponse, type ApiFailure, type RegisteredTenant, type TenantDetails, type TenantPage } from '../../tenants';
import { globalOptionsOf, parseCount, sessionOptionsOf } from '../context';
import { EXIT_FAILURE } from '../exit-codes';
import { printJson, printProgress, printResult } from '../output';
import { printTable } from './status';

interface RegisterOptions {
  readonly name: string;
  readonly adminEmail: string;
  readonly firstName?: string;
  readonly lastName?: string;
  readonly passwordStdin?: boolean;
}

interface ListOptions {
  readonly limit?: string;
  readonly offset?: string;
}

export function registerTenantCommand(program: Command): Command {
  const tenant = program
    .command('tenant')
    .description('register tenants and show them, through the api functions of migration V002')
    .addHelpText(
      'after',
      '\nExamples:\n' +
        '  $ onevault tenant register --name "Acme Corp" --admin-email admin@acme.example\n' +
        '  $ printf %s "$ADMIN_PASSWORD" | onevault tenant register --name "Acme Corp" --admin-email admin@acme.example --password-stdin\n' +
        '  $ onevault tenant list\n' +
        '  $ onevault tenant show "Acme Corp"',
    );

  tenant
    .command('register')
    .description('register a tenant with its admin user; the admin password is asked for twice, or read from stdin')
    .requiredOption('--name <name>', 'tenant name: letters, digits, spaces and . , & \' _ -, 2 to 100 characters')
    .requiredOption('--admin-email <email>', 'e-mail address of the admin user, also the admin login')
    .option('--first-name <name>', 'first name of the admin user')
    .option('--last-name <name>', 'last name of the admin user')
    .option('--password-stdin', 'read the admin password from stdin (one trailing newline is removed) instead of prompting')
    .addHelpText('after', '\nThe password is never accepted as an option or an environment variable, because both show in ps and shell history.')
    .action(async (options: RegisterOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const password = options.passwordStdin ? await readPasswordFromStdin() : await promptPasswordTwice();

      const response = await withDatabaseSession(sessionOptionsOf(global), (session) =>
        registerTenant(session.client, {
          tenant_name: options.name,
          admin_email: options.adminEmail,
          admin_password: password,
          admin_first_name: options.firstName ?? null,
          admin_last_name: options.lastName ?? null,
        }),
      );

      if (global.json) printJson(response);
      else renderRegistration(response);
      if (!response.success) process.exitCode = EXIT_FAILURE;
    });

  tenant
    .command('list')
    .description('list tenants in order of registration (needs membership in onevault_system_operations, or a superuser)')
    .option('--limit <count>', 'list at most this many tenants, 1 to 1000', '100')
    .option('--offset <count>', 'skip this many tenants first', '0')
    .action(async (options: ListOptions, self: Command) => {
      const global = globalOptionsOf(self);
      const limit = parseCount(options.limit ?? '100', '--limit', 1, 1000);
      const offset = parseCount(options.offset ?? '0', '--offset', 0, 999_999_999);

      const response = await withDatabaseSession(sessionOptionsOf(global), (session) => listTenants(session.client, { limit, offset }));

      if (global.json) printJson(response);
      else renderList(response);
      if (!response.success) process.exitCode = EXIT_FAILURE;
    });

  tenant
    .command('show')
    .argument('<id>', 'tenant id (64 hex digits) or tenant name')
    .description('show one tenant with its roles and administrators (needs membership in onevault_system_operations, or a superuser)')
    .action(async (id: string, _options: unknown, self: Command) => {
      const global = globalOptionsOf(self);
      const response = await withDatabaseSession(sessionOptionsOf(global), (session) => getTenant(session.client, id));

      if (global.json) printJson(response);
      else renderTenant(response);
      if (!response.success) process.exitCode = EXIT_FAILURE;
    });

  return tenant;
}

function renderRegistration(response: ApiResponse<RegisteredTenant>): void {
  if (!response.success) {
    renderFailure(response);
    return;
  }
  const tenant = response.data;
  printResult(`Registered tenant ${tenant.tenant_name}`);
  printResult(`  tenant id:     ${tenant.tenant_id}`);
  printResult(`  admin user id: ${tenant.admin_user_id}`);
  printResult(`  admin login:   ${tenant.admin_username}`);
  printResult(`  roles:         ${tenant.roles.map((role) => role.role_name).join(', ')}`);
  printResult(`  request id:    ${tenant.request_id}`);
}

function renderList(response: ApiResponse<TenantPage>): void {
  if (!response.success) {
    renderFailure(response);
    return;
  }
  const page = response.data;
  const rows = page.tenants.map((tenant) => [
    tenant.tenant_id,
    tenant.tenant_name ?? '-',
    tenant.tenant_type ?? '-',
    tenant.tenant_status ?? '-',
    String(tenant.user_count),
    tenant.registered_at,
  ]);
  printTable(['tenant id', 'name', 'type', 'status', 'users', 'registered at (UTC)'], rows);
  printResult(`${page.tenants.length} of ${page.total} tenants (offset ${page.offset})`);
}

function renderTenant(response: ApiResponse<TenantDetails>): void {
  if (!response.success) {
    renderFailure(response);
    return;
  }
  const tenant = response.data;
  printResult(`tenant id:     ${tenant.tenant_id}`);
  printResult(`name:          ${tenant.tenant_name ?? '-'}`);
  printResult(`business key:  ${tenant.tenant_bk}`);
  printResult(`type:          ${tenant.tenant_type ?? '-'}`);
  printResult(`status:        ${tenant.tenant_status ?? '-'}${tenant.is_active === false ? ' (inactive)' : ''}`);
  printResult(`contact:       ${tenant.contact_email ?? '-'}`);
  printResult(`max users:     ${tenant.max_users ?? '-'}`);
  printResult(`users:         ${tenant.user_count}`);
  printResult(`registered at: ${tenant.registered_at} (UTC)`);
  printResult('roles:');
  for (const role of tenant.roles) {
    printResult(`  ${role.role_name ?? role.role_bk} (${role.role_bk}): ${(role.permissions ?? []).join(', ')}`);
  }
  printResult('administrators:');
  for (const admin of tenant.administrators) {
    const name = [admin.first_name, admin.last_name].filter((part) => part).join(' ');
    printResult(`  ${admin.email ?? admin.user_id}${name ? ` (${name})` : ''}`);
  }
}

/** Prints the error code and message, then one aligned line per failed rule, to stderr. */
function renderFailure(response: ApiFailure): void {
  printProgress(`error ${response.error_code}: ${response.message}`);
  const fieldWidth = Math.max(0, ...response.errors.map((error) => error.field.length));
  const ruleWidth = Math.max(0, ...response.errors.map((error) => error.rule.length));
  for (const error of response.errors) {
    printProgress(`  ${error.field.padEnd(fieldWidth)}  ${error.rule.padEnd(ruleWidth)}  ${error.message}`);
  }
  if (response.request_id !== undefined) printProgress(`  request id: ${response.request_id}`);
}

/** Reads the whole of stdin as the password and removes one trailing line break. Throws `INVALID_ARGUMENT` when it is empty. */
async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : (chunk as Buffer));
  const password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
  if (password === '') {
    throw new OnevaultError('INVALID_ARGUMENT', '--password-stdin was given, but stdin contained no password.', {
      hint: 'Write the password to stdin, for example: printf %s "$PASSWORD" | onevault tenant register ... --password-stdin',
    });
  }
  return password;
}

/** Prompts for the password twice on the terminal without echo. Throws `INVALID_ARGUMENT` without a terminal or when the two differ. */
async function promptPasswordTwice(): Promise<string> {
  if (!process.stdin.isTTY) {
    throw new OnevaultError('INVALID_ARGUMENT', 'stdin is not a terminal, so the admin password cannot be asked for.', {
      hint: 'Pass --password-stdin and write the password to stdin.',
    });
  }
  const password = await promptHidden('Admin password: ');
  const confirmation = await promptHidden('Repeat the admin password: ');
  if (password !== confirmation) {
    throw new OnevaultError('INVALID_ARGUMENT', 'The two passwords differ, so nothing was registered.', { hint: 'Run the command again and type the same password twice.' });
  }
  if (password === '') {
    throw new OnevaultError('INVALID_ARGUMENT', 'The admin password is empty, so nothing was registered.', { hint: 'Run the command again and type a password.' });
  }
  return password;
}

/**
 * Reads one line from the terminal in raw mode, so that nothing typed is echoed, and writes the
 * prompt to stderr. Backspace deletes a character, and Ctrl-C rejects with `INTERRUPTED`.
 */
function promptHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  return new Promise((resolve, reject) => {
    let value = '';

    const finish = (error?: OnevaultError): void => {
      input.off('data', onData);
      input.setRawMode(false);
      input.pause();
      process.stderr.write('\n');
      if (error) reject(error);
      else resolve(value);
    };

    const onData = (chunk: string): void => {
      // An escape sequence (arrow keys, function keys) arrives as one chunk and is ignored whole.
      if (chunk.startsWith('\u001b')) return;
      for (const character of chunk) {
        if (character === '\r' || character === '\n') return finish();
        if (character === '\u0003') return finish(new OnevaultError('INTERRUPTED', 'Stopped at the password prompt, so nothing was registered.'));
        if (character === '\u007f' || character === '\b') {
          value = Array.from(value).slice(0, -1).join('');
          continue;
        }
        if (character >= ' ') value += character;
      }
    };

    process.stderr.write(prompt);
    input.setEncoding('utf8');
    input.setRawMode(true);
    input.resume();
    input.on('data', onData);
  });
}
