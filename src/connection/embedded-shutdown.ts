/** Synchronous stop routines of the command-scoped servers this process started, by data folder. */
const runningServers = new Map<string, () => void>();

/** Records a server that the shutdown handlers must stop. */
export function trackServer(rootDir: string, stopSync: () => void): void {
  runningServers.set(rootDir, stopSync);
}

/** Forgets the server of a folder, or only `stopSync` when given, so that a later server of the folder stays tracked. */
export function untrackServer(rootDir: string, stopSync?: () => void): void {
  if (stopSync === undefined || runningServers.get(rootDir) === stopSync) runningServers.delete(rootDir);
}

export function isServerTracked(rootDir: string): boolean {
  return runningServers.has(rootDir);
}

/**
 * Stops every command-scoped server this process started and has not stopped yet. Synchronous,
 * so it also works in a process 'exit' listener. A server that fails to stop does not keep the
 * others running, and the next start on its folder stops the orphan.
 */
export function stopTrackedServersSync(): void {
  for (const [rootDir, stopSync] of [...runningServers]) {
    runningServers.delete(rootDir);
    try {
      stopSync();
    } catch {
      // The process is ending and has no caller left to report to.
    }
  }
}

export interface ShutdownHandlerOptions {
  /**
   * Called first when a signal arrives. Returns true when the process unwinds by itself, for
   * example by cancelling its running work, so that its own `finally` blocks stop the servers.
   * The servers then keep running and `onSignal` is not called. Default: always false.
   */
  readonly unwindsOnSignal?: (signal: NodeJS.Signals) => boolean;
  /**
   * Called after the servers have stopped when a signal arrives. When it is missing, the
   * handlers remove themselves and raise the signal again, so that the process ends as it would
   * have without them (exit status 128 + signal number) unless other listeners are installed.
   */
  readonly onSignal?: (signal: NodeJS.Signals) => void;
}

const SHUTDOWN_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/**
 * Registers process listeners that stop the command-scoped embedded servers of this process on
 * 'exit' (including `process.exit`) and on SIGINT, SIGTERM and SIGHUP, unless `unwindsOnSignal`
 * takes the signal. Returns a function that removes them.
 * The library does not register these by itself, because signal listeners change how a process
 * ends. The CLI should call this once at start-up.
 */
export function registerEmbeddedShutdownHandlers(options: ShutdownHandlerOptions = {}): () => void {
  const signalListeners = new Map<NodeJS.Signals, () => void>();

  const unregister = (): void => {
    process.removeListener('exit', stopTrackedServersSync);
    for (const [signal, listener] of signalListeners) process.removeListener(signal, listener);
    signalListeners.clear();
  };

  for (const signal of SHUTDOWN_SIGNALS) {
    const listener = (): void => {
      if (options.unwindsOnSignal?.(signal) === true) return;

      stopTrackedServersSync();
      if (options.onSignal !== undefined) {
        options.onSignal(signal);
        return;
      }
      unregister();
      process.kill(process.pid, signal);
    };
    signalListeners.set(signal, listener);
    process.on(signal, listener);
  }
  process.on('exit', stopTrackedServersSync);

  return unregister;
}
