import { EXIT_INTERRUPTED } from './exit-codes';
import { printProgress } from './output';

/**
 * Runs `work` with an AbortSignal that the first Ctrl-C (or SIGTERM) aborts, so the running
 * statement is cancelled, its transaction rolled back and the run recorded. A second signal exits
 * at once; the server then rolls the open transaction back and releases the session's locks.
 */
export async function withInterruptSignal<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (controller.signal.aborted) {
      printProgress(`${signal} again: exiting now.`);
      process.exit(EXIT_INTERRUPTED);
    }
    printProgress(`${signal} received: cancelling the running statement and rolling back (press Ctrl-C again to exit at once).`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
