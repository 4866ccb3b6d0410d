import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

import type { ClientBase } from 'pg';

/** Clock ticks per second of the times in /proc/<pid>/stat, from `getconf CLK_TCK`; 100 when getconf fails. */
const CLOCK_TICKS_PER_SECOND = readClockTicksPerSecond();

function readClockTicksPerSecond(): number {
  const ticks = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim());
  return Number.isInteger(ticks) && ticks > 0 ? ticks : 100;
}

/**
 * Reads the CPU time (user plus system) that the server process behind `client` has used so far,
 * in ms, from /proc/<pid>/stat. Returns undefined when that file cannot be read, for example when
 * the server runs in another container or on another machine.
 */
export async function readBackendCpuMs(client: ClientBase, backendPid?: number): Promise<number | undefined> {
  const pid = backendPid ?? (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  try {
    // The command name in brackets may contain spaces, so the fields are counted after its end.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}
