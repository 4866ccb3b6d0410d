// Preloaded into a CLI process with `node --require`: when the process exits it writes its peak
// resident set size (getrusage ru_maxrss, in KiB on Linux) to the file that
// ONEVAULT_BENCH_PEAK_RSS_FILE names. The probe itself adds no work before exit.
import { writeFileSync } from 'node:fs';

const outputFile = process.env.ONEVAULT_BENCH_PEAK_RSS_FILE;
if (outputFile !== undefined && outputFile !== '') {
  process.on('exit', () => {
    writeFileSync(outputFile, String(process.resourceUsage().maxRSS));
  });
}
