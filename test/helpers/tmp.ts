/**
 * The one way a test, a test helper or a bench script makes a temporary directory: `tempDir('name')`
 * creates `<os.tmpdir()>/sparkinfer-name-XXXXXX` and removes it when the process exits (a test file
 * runs in a process of its own), whether its tests passed or failed.
 *
 * At exit rather than in an `after` hook: node:test runs a file's `after` hooks in the order they
 * were registered and stops at the first that throws, so a hook registered with the directory would
 * run before the file's own hooks that stop the engines, Spark clusters and servers still writing
 * into it (or be skipped when one of them fails). The `exit` event comes after every hook.
 *
 * A process killed by a signal removes nothing; `npm test` covers that by giving the suite a private
 * TMPDIR that it checks and removes itself (scripts/test.sh). `SPARKINFER_KEEP_TMP=1` keeps the
 * directories, to read a failed test's logs, and lists them on stderr at exit.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = new Set<string>();
let hooked = false;

function removeAll(): void {
  if (process.env.SPARKINFER_KEEP_TMP === '1') {
    if (made.size > 0) process.stderr.write(`kept (SPARKINFER_KEEP_TMP=1): ${[...made].join(' ')}\n`);
    return;
  }
  for (const dir of made) {
    try {
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    } catch (err) {
      // A filesystem still mounted inside it, or no permission: say so, the suite's check names it too.
      process.stderr.write(`could not remove ${dir}: ${(err as Error).message}\n`);
    }
  }
  made.clear();
}

/** A new empty directory `<tmpdir>/sparkinfer-<name>-XXXXXX`, removed when this process exits. */
export function tempDir(name: string): string {
  if (!hooked) {
    hooked = true;
    process.once('exit', removeAll);
  }
  const dir = mkdtempSync(join(tmpdir(), `sparkinfer-${name}-`));
  made.add(dir);
  return dir;
}
