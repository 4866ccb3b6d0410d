import type { EmbeddedServer } from './embedded';

/** A server started by this process, with the number of handles that still use it. */
interface SharedServer {
  readonly server: EmbeddedServer;
  users: number;
}

/** Servers of this process by data folder, including starts still in progress. */
const sharedServers = new Map<string, Promise<SharedServer>>();

/** Stops in progress by data folder: a new start on the folder waits for them. */
const pendingStops = new Map<string, Promise<void>>();

/**
 * Returns a handle on the server of `rootDir` that this process already runs or is starting, or
 * else calls `start`. The handle's `stop()` releases it, and the last release stops the server.
 * Concurrent callers wait for the same start, and share its failure.
 */
export async function acquireSharedServer(rootDir: string, start: () => Promise<EmbeddedServer>, onReuse: (server: EmbeddedServer) => void): Promise<EmbeddedServer> {
  for (let stopping = pendingStops.get(rootDir); stopping !== undefined; stopping = pendingStops.get(rootDir)) await stopping;

  let pending = sharedServers.get(rootDir);
  const reused = pending !== undefined;
  if (pending === undefined) {
    pending = start().then((server) => ({ server, users: 0 }));
    sharedServers.set(rootDir, pending);
    const started = pending;
    started.catch(() => {
      if (sharedServers.get(rootDir) === started) sharedServers.delete(rootDir);
    });
  }

  const entry = await pending;
  entry.users += 1;
  if (reused) onReuse(entry.server);
  return handleOf(rootDir, pending, entry);
}

function handleOf(rootDir: string, pending: Promise<SharedServer>, entry: SharedServer): EmbeddedServer {
  let released = false;

  const stop = async (): Promise<void> => {
    if (released) return;
    released = true;
    entry.users -= 1;
    if (entry.users > 0) return;

    if (sharedServers.get(rootDir) === pending) sharedServers.delete(rootDir);
    const stopping = entry.server.stop();
    const settled = stopping.then(
      () => undefined,
      () => undefined,
    );
    pendingStops.set(rootDir, settled);
    try {
      await stopping;
    } finally {
      if (pendingStops.get(rootDir) === settled) pendingStops.delete(rootDir);
    }
  };

  return { ...entry.server, stop };
}

/** Drops the record of a folder's server, after it was stopped outside its handles (`stopEmbedded`, exit handlers). */
export function forgetSharedServer(rootDir: string): void {
  sharedServers.delete(rootDir);
}
