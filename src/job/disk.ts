/**
 * What a run says when a disk failed it: the hint that the ledger kept every finished row, and
 * whether the run directory's filesystem is full (when the driver could not even write why).
 */
import { statfsSync } from 'node:fs';

const DISK_ERRNO = /\((ENOSPC|EDQUOT|EIO|EROFS)\)/;

/** A disk failure's message gets what to do next: the ledger kept every finished row. */
export function withDiskHint(message: string): string {
  if (!DISK_ERRNO.test(message)) return message;
  return `${message}; free space (or fix the disk) and run the same command again: it resumes, and finished rows are not inferred again`;
}

/** When the driver could not even say why (its error file did not fit), a full run directory is the likely cause. */
export function fullDisk(runDir: string): string | undefined {
  try {
    const st = statfsSync(runDir);
    if (st.bavail > 0 && st.ffree > 0) return undefined;
  } catch {
    return undefined;
  }
  return withDiskHint(`the filesystem of the run directory ${runDir} is full: no space left on device (ENOSPC)`);
}
