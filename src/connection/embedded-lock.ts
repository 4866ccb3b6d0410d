import { unlinkSync } from 'node:fs';
import fs from 'node:fs/promises';

import { EmbeddedLayout } from './embedded-layout';
import { identifyProcess, isSameProcessAlive, ProcessIdentity } from './embedded-process';

/**
 * Owner record of a data folder's server, stored in `server.lock`.
 * `command`: a onevault process owns the server and stops it when it ends. While that process
 * lives, other processes are rejected. `detached`: `onevault db start` left the server running for any later
 * command to reuse, until `onevault db stop`.
 */
export interface ServerLock {
  readonly mode: 'command' | 'detached';
  /** The Node.js process that started the server (or is starting it). */
  readonly owner: ProcessIdentity;
  readonly postmasterPid?: number;
  readonly port?: number;
  readonly startedAt: string;
}

function isServerLock(value: unknown): value is ServerLock {
  if (typeof value !== 'object' || value === null) return false;
  const fields = value as Record<string, unknown>;
  const owner = fields.owner as Record<string, unknown> | undefined;
  return (
    (fields.mode === 'command' || fields.mode === 'detached') &&
    typeof owner === 'object' &&
    owner !== null &&
    typeof owner.pid === 'number' &&
    typeof fields.startedAt === 'string'
  );
}

/** Builds a lock owned by this process. */
export function newLock(mode: ServerLock['mode']): ServerLock {
  return { mode, owner: identifyProcess(process.pid), startedAt: new Date().toISOString() };
}

/**
 * Reads server.lock. Returns undefined when there is none, and 'invalid' when its content cannot
 * be parsed (the lock is written through a link, so a live writer never leaves it half written).
 */
export async function readLock(layout: EmbeddedLayout): Promise<ServerLock | 'invalid' | undefined> {
  let text: string;
  try {
    text = await fs.readFile(layout.lockFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }

  try {
    const parsed: unknown = JSON.parse(text);
    return isServerLock(parsed) ? parsed : 'invalid';
  } catch {
    return 'invalid';
  }
}

/** Tells whether the process that took a command lock still runs (a pid reused by another program does not count). */
export function isLockOwnerAlive(lock: ServerLock): boolean {
  return isSameProcessAlive(lock.owner);
}

function temporaryLockPath(layout: EmbeddedLayout): string {
  return `${layout.lockFile}.${process.pid}.${Date.now()}.tmp`;
}

/**
 * Creates server.lock unless it exists. Returns whether this call created it.
 * The content is written to a temporary file first and then hard-linked into place, which fails
 * atomically when another process holds the lock.
 */
export async function tryCreateLock(layout: EmbeddedLayout, lock: ServerLock): Promise<boolean> {
  const temporary = temporaryLockPath(layout);
  await fs.writeFile(temporary, `${JSON.stringify(lock)}\n`, { mode: 0o644 });
  try {
    await fs.link(temporary, layout.lockFile);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    await fs.rm(temporary, { force: true });
  }
}

/** Replaces the content of a lock this process holds, atomically. */
export async function replaceLock(layout: EmbeddedLayout, lock: ServerLock): Promise<void> {
  const temporary = temporaryLockPath(layout);
  await fs.writeFile(temporary, `${JSON.stringify(lock)}\n`, { mode: 0o644 });
  await fs.rename(temporary, layout.lockFile);
}

/**
 * Removes server.lock.
 * NOTE: two processes that find the same stale lock at once may both remove it, and the later
 * removal can then delete the lock the faster one has just taken. The window is a few
 * milliseconds after a crash.
 */
export async function removeLock(layout: EmbeddedLayout): Promise<void> {
  await fs.rm(layout.lockFile, { force: true });
}

export function removeLockSync(layout: EmbeddedLayout): void {
  try {
    unlinkSync(layout.lockFile);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}
