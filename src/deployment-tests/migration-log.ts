import { readMigrationRuns, summarizeRuns } from '../migrations/history';
import { expectThat, groupOf, listText, type CheckGroup } from './check-result';

export const migrationLogChecks: CheckGroup = groupOf('migration log', [
  {
    name: 'every migration is applied',
    run: async (context) => {
      const states = summarizeRuns(await readMigrationRuns(context.client));
      const notApplied = context.migrations.filter((migration) => states.get(migration.version)?.applied !== true).map((migration) => migration.version);
      const applied = context.migrations.filter((migration) => states.get(migration.version)?.applied === true).map((migration) => migration.version);
      return expectThat(
        notApplied.length === 0,
        `applied ${listText(applied)}, not applied ${listText(notApplied)}`,
        `a SUCCESS FORWARD run as the latest successful run of ${listText(context.migrations.map((migration) => migration.version))}`,
      );
    },
  },
  {
    name: 'applied files match their checksums',
    run: async (context) => {
      const states = summarizeRuns(await readMigrationRuns(context.client));
      const mismatches: string[] = [];
      let compared = 0;
      for (const migration of context.migrations) {
        const recorded = states.get(migration.version)?.lastForward?.checksum;
        if (!recorded) continue;
        compared += 1;
        if (recorded !== migration.forward.checksum) mismatches.push(`${migration.version} recorded ${recorded.slice(0, 12)}…, file ${migration.forward.checksum.slice(0, 12)}…`);
      }
      if (compared === 0) {
        return {
          status: 'SKIPPED',
          found: '0 recorded checksums: no successful forward run recorded one',
          expected: 'the SHA-256 recorded by each successful forward run equals that of the file',
          note: 'Runs made with psql record no checksum, so no applied file could be compared; a person compares the applied files with the reviewed ones.',
        };
      }
      return expectThat(
        mismatches.length === 0,
        mismatches.length === 0 ? `${compared} recorded checksums match` : `changed after they were applied: ${mismatches.join('; ')}`,
        'the SHA-256 recorded by each successful forward run equals that of the file',
        'Runs made with psql record no checksum and are not compared.',
      );
    },
  },
  {
    name: 'no run is left RUNNING',
    run: async (context) => {
      const running = (await readMigrationRuns(context.client)).filter((run) => run.status === 'RUNNING');
      const list = running.map((run) => `${run.direction} ${run.version} started ${run.startedAt.toISOString()} by ${run.executedBy}`);
      return expectThat(running.length === 0, running.length === 0 ? 'no RUNNING rows' : `${running.length} RUNNING: ${list.join('; ')}`, 'no RUNNING rows in util.migration_log', 'A run left RUNNING was interrupted without its outcome being recorded; check the objects of that version and record the outcome.');
    },
  },
]);
