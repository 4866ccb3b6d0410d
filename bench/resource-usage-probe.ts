// Preloaded into a CLI process with `node --require`: when the process exits it writes its
// resource use to the file that ONEVAULT_BENCH_USAGE_FILE names, as JSON: the peak resident set
// size (getrusage ru_maxrss, KiB on Linux) and the user and system CPU time (microseconds).
import { writeFileSync } from 'node:fs';

const outputFile = process.env.ONEVAULT_BENCH_USAGE_FILE;
if (outputFile !== undefined && outputFile !== '') {
  process.on('exit', () => {
    const usage = process.resourceUsage();
    writeFileSync(outputFile, JSON.stringify({ maxRssKiB: usage.maxRSS, userCpuUs: usage.userCPUTime, systemCpuUs: usage.systemCPUTime }));
  });
}
