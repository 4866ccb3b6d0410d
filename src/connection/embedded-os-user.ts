import { readFileSync } from 'node:fs';

import { OnevaultError } from '../errors';
import { describeFailure, OsUser, runProgram, runProgramSync } from './embedded-process';

/** PostgreSQL does not run as root, so a root process runs the binaries as this OS user instead. */
export const SERVER_OS_USER_NAME = 'postgres';

export function isRunningAsRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function lookupInPasswdFile(name: string): OsUser | undefined {
  let passwd: string;
  try {
    passwd = readFileSync('/etc/passwd', 'utf8');
  } catch {
    return undefined;
  }

  for (const line of passwd.split('\n')) {
    const [entryName, , uid, gid] = line.split(':');
    if (entryName === name && uid !== undefined && gid !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  return undefined;
}

/**
 * Looks an OS user up in /etc/passwd, then through `id` so that users from NSS sources such as
 * LDAP are found too. Returns undefined when the user does not exist.
 */
export function lookupOsUser(name: string): OsUser | undefined {
  const fromFile = lookupInPasswdFile(name);
  if (fromFile !== undefined) return fromFile;

  const uid = runProgramSync('id', ['-u', name]);
  const gid = runProgramSync('id', ['-g', name]);
  if (uid.exitCode !== 0 || gid.exitCode !== 0) return undefined;
  return { name, uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

function hasGroup(name: string): boolean {
  try {
    return readFileSync('/etc/group', 'utf8')
      .split('\n')
      .some((line) => line.split(':')[0] === name);
  } catch {
    return false;
  }
}

/**
 * Creates the server's OS user as a system account without a home folder, joined to an existing
 * group of the same name or to a new one. This changes the host for good.
 */
async function createServerOsUser(onProgress: (message: string) => void): Promise<void> {
  onProgress(`Creating the OS user "${SERVER_OS_USER_NAME}" to run PostgreSQL, because PostgreSQL refuses to run as root`);

  // NOTE: this path is not covered by the tests, which must not add users to the host.
  const groupArguments = hasGroup(SERVER_OS_USER_NAME) ? ['--gid', SERVER_OS_USER_NAME] : ['--user-group'];
  const result = await runProgram('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ...groupArguments, SERVER_OS_USER_NAME]);
  if (result.exitCode !== 0) {
    throw new OnevaultError('EMBEDDED_OS_USER_MISSING', `Failed to create the OS user "${SERVER_OS_USER_NAME}": ${describeFailure(result)}`, {
      hint: `Create it yourself (for example: useradd --system --user-group ${SERVER_OS_USER_NAME}), then run the command again.`,
    });
  }
}

/**
 * Returns the OS user that must run the PostgreSQL binaries: undefined when this process is not
 * root (the binaries then run as the current user), else the `postgres` user.
 * Throws EMBEDDED_OS_USER_MISSING when root and that user is missing, unless `createOsUser` allows
 * creating it.
 */
export async function resolveServerOsUser(createOsUser: boolean, onProgress: (message: string) => void): Promise<OsUser | undefined> {
  if (!isRunningAsRoot()) return undefined;

  const existing = lookupOsUser(SERVER_OS_USER_NAME);
  if (existing !== undefined) return existing;

  if (!createOsUser) {
    throw new OnevaultError(
      'EMBEDDED_OS_USER_MISSING',
      `PostgreSQL cannot run as root, and the OS user "${SERVER_OS_USER_NAME}" that should run it instead does not exist.`,
      {
        hint: `Create it (for example: useradd --system --user-group ${SERVER_OS_USER_NAME}), let onevault create it with --create-os-user (the createOsUser option of the library), or run onevault as a non-root user.`,
      },
    );
  }

  await createServerOsUser(onProgress);
  const created = lookupOsUser(SERVER_OS_USER_NAME);
  if (created === undefined) {
    throw new OnevaultError('EMBEDDED_OS_USER_MISSING', `The OS user "${SERVER_OS_USER_NAME}" is still missing after useradd succeeded.`);
  }
  return created;
}

/**
 * Tells whether `user` passes `test <flag> <path>` (for example -x to enter a folder). Returns true
 * for undefined, the current non-root user, whose folders this library creates itself.
 */
export function canUserAccess(user: OsUser | undefined, flag: '-r' | '-w' | '-x', path: string): boolean {
  if (user === undefined) return true;
  return runProgramSync('test', [flag, path], user).exitCode === 0;
}
