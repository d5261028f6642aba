/**
 * A timer on the wall clock's whole seconds. Every worker writes its stats file on the second, so
 * the files of all the workers of a run describe the same instant, and a sum over them (the CLI's
 * progress, report.html's "our requests in flight") is a true total, not one worker's count from
 * now plus another's from up to a second ago.
 */

/**
 * Calls `fn` at each whole second of `Date.now()` (plus `offsetMs`) until the returned stop is
 * called. The CLI reads the workers' files at offset 500, half-way between their writes.
 */
export function onEachSecond(fn: () => void, offsetMs = 0): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  const arm = (): void => {
    timer = setTimeout(
      () => {
        if (stopped) return;
        fn();
        arm();
      },
      1000 - ((Date.now() - offsetMs) % 1000),
    );
  };
  arm();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
