/** The engine log's tail, quoted in startup error messages. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/**
 * The last `maxLines` lines the engine wrote since its latest start header (`=== sparkinfer:`),
 * read from the end of the log file; empty when the file can't be read.
 */
export function logTail(path: string, maxLines = 12, maxBytes = 8192): string {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const length = Math.min(size, maxBytes);
    const buf = Buffer.alloc(length);
    readSync(fd, buf, 0, length, size - length);
    let text = buf.toString('utf8');
    const header = text.lastIndexOf('=== sparkinfer:');
    if (header >= 0) text = text.slice(text.indexOf('\n', header) + 1);
    return text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .slice(-maxLines)
      .join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
