import { registerEmbeddedShutdownHandlers } from '../connection/embedded';
import { EXIT_INTERRUPTED } from './exit-codes';
import { printProgress } from './output';

/** Controllers of the `withInterruptSignal` scopes that run now. */
const activeControllers = new Set<AbortController>();

let installations = 0;
let removeHandlers: (() => void) | undefined;

/**
 * Aborts the running `withInterruptSignal` scopes on the first signal, so that they roll back and
 * unwind, and their `finally` blocks stop the embedded server. Returns false when there is no
 * scope to abort or the scopes were aborted already, so that the servers stop and the process exits.
 */
function abortActiveScopes(signal: NodeJS.Signals): boolean {
  const pending = [...activeControllers].filter((controller) => !controller.signal.aborted);
  if (pending.length === 0) return false;

  printProgress(`${signal} received: cancelling the running statement and rolling back (press Ctrl-C again to exit at once).`);
  for (const controller of pending) controller.abort();
  return true;
}

function exitOnSignal(signal: NodeJS.Signals): void {
  const repeated = [...activeControllers].some((controller) => controller.signal.aborted);
  printProgress(repeated ? `${signal} again: exiting now.` : `${signal} received: exiting.`);
  process.exit(EXIT_INTERRUPTED);
}

/**
 * Installs the CLI's handlers for SIGINT, SIGTERM and SIGHUP, and for process exit. A signal
 * during `withInterruptSignal` aborts its work, and the embedded server keeps running until the
 * command's `finally` blocks stop it. Any other signal, including a second one, stops the
 * command's embedded server synchronously and exits with status 130. Any `process.exit` also
 * stops that server first. Returns a function that removes the handlers. Nested calls share one
 * installation, which the last removal ends.
 */
export function installSignalHandlers(): () => void {
  installations += 1;
  if (installations === 1) removeHandlers = registerEmbeddedShutdownHandlers({ unwindsOnSignal: abortActiveScopes, onSignal: exitOnSignal });

  let removed = false;
  return () => {
    if (removed) return;
    removed = true;
    installations -= 1;
    if (installations === 0) {
      removeHandlers?.();
      removeHandlers = undefined;
    }
  };
}

/**
 * Runs `work` with an AbortSignal that the first Ctrl-C (or SIGTERM) aborts, so the running
 * statement is cancelled, its transaction rolled back and the run recorded. A second signal stops
 * the embedded server and exits at once. The server then rolls the open transaction back and
 * releases the session's locks.
 */
export async function withInterruptSignal<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const removeInstallation = installSignalHandlers();
  activeControllers.add(controller);
  try {
    return await work(controller.signal);
  } finally {
    activeControllers.delete(controller);
    removeInstallation();
  }
}
