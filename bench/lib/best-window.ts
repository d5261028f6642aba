/**
 * The best fixed window's rate, estimated without the winner's curse.
 *
 * Bench c compares `auto` with the best of several fixed windows. Taking the highest mean as "the
 * best window's rate" is biased upwards when windows are alike and noisy: on the CPU llama-server
 * every window from the slot count up has the same true rate, a window moves 5–28 % between
 * rounds, and the highest of several such means sits about one standard deviation above the true
 * rate. So the window is picked on some rounds and its rate read on another (leave one round out):
 * for each round r, the window with the highest mean over the other rounds is chosen, and its rate
 * in round r counts. The mean of those is the held-out best. A window that really is better is
 * still picked every time, and then the held-out value is just its mean.
 */
export interface WindowRounds {
  window: number;
  /** The window's rate in each round, in round order. */
  each: number[];
}

/** The held-out best rate; null with fewer than two rounds or no windows. */
export function heldOutBest(windows: WindowRounds[]): { rate: number; picks: number[] } | null {
  if (windows.length === 0) return null;
  const rounds = Math.min(...windows.map((w) => w.each.length));
  if (rounds < 2) return null;
  const meanWithout = (xs: number[], skip: number): number => {
    let s = 0;
    for (let i = 0; i < rounds; i++) if (i !== skip) s += xs[i] as number;
    return s / (rounds - 1);
  };
  let sum = 0;
  const picks: number[] = [];
  for (let r = 0; r < rounds; r++) {
    let pick = windows[0] as WindowRounds;
    for (const w of windows) if (meanWithout(w.each, r) > meanWithout(pick.each, r)) pick = w;
    picks.push(pick.window);
    sum += pick.each[r] as number;
  }
  return { rate: sum / rounds, picks };
}
