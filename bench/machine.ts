import * as os from 'node:os';

import type { BenchServer } from './bench-server';

/** The machine and server a run was measured on. */
export interface MachineFacts {
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly os: string;
  readonly node: string;
  readonly postgres: string;
  /** 1-, 5- and 15-minute load averages when the run started, as a hint of other work on the machine. */
  readonly loadAverageAtStart: readonly number[];
}

export async function readMachineFacts(server: BenchServer): Promise<MachineFacts> {
  const rows = await server.adminQuery<{ version: string }>('SELECT version()');
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 1024 ** 3) * 10) / 10,
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    postgres: rows[0].version,
    loadAverageAtStart: os.loadavg().map((value) => Math.round(value * 100) / 100),
  };
}
