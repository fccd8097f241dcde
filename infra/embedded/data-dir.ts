/**
 * What the embedded host keeps in its data dir besides the table: the credentials it generated,
 * and a lock so that two hosts never share one dir (dynalite's LevelDB would fail mid-request
 * and take the process down, instead of refusing to start).
 */
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Takes the data dir for this process; resolves with the function that gives it back. */
export async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const path = join(dataDir, 'host.pid');
  for (;;) {
    try {
      await writeFile(path, `${process.pid}\n`, { flag: 'wx' });
      return () => rm(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number((await readFile(path, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isRunning(holder)) {
      throw new Error(`${dataDir} is in use by another embedded host (pid ${holder}); stop it or choose another data dir`);
    }
    // Left behind by a host that did not stop cleanly.
    await rm(path, { force: true });
  }
}

/** The given value, else the one saved in the data dir, else a new one saved there (mode 0600). */
export async function persistentSecret(
  dataDir: string,
  file: string,
  given: string | undefined,
  generate: () => string,
): Promise<string> {
  if (given) return given;
  if (dataDir === ':memory:') return generate();
  const path = join(dataDir, file);
  try {
    const saved = (await readFile(path, 'utf8')).trim();
    if (saved) return saved;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const value = generate();
  await writeFile(path, `${value}\n`, { mode: 0o600 });
  return value;
}
