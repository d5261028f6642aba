/**
 * The top-level fields Spark's JSON reader would infer for JSON Lines files, without Spark: the union
 * of the keys of every record (a line holding an array counts each object in it, as Spark does),
 * read up to a byte budget. With `multiLine: true` each file is one JSON value (an object or an
 * array of objects). Whether every record was read decides whether a name that is not found is
 * certainly missing.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';

/** Bytes read over all files before we stop and call the keys incomplete. */
export const JSON_SCAN_BYTES = 32 * 1024 * 1024;

export type JsonKeys =
  | { keys: string[]; complete: boolean }
  /** A record we cannot read: the run would fail on it (or the options ask for what we do not do). */
  | { unchecked: string };

function addKeys(v: unknown, keys: Set<string>): boolean {
  if (Array.isArray(v)) return v.every((x) => addKeys(x, keys));
  if (typeof v !== 'object' || v === null) return false;
  for (const k of Object.keys(v)) keys.add(k);
  return true;
}

function readUpTo(path: string, max: number): string {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(max);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, max - got, got);
      if (n === 0 || got + n >= max) return buf.subarray(0, got + n).toString('utf8');
      got += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** The keys of JSON Lines (or `multiLine`) files, reading at most JSON_SCAN_BYTES in all. */
export function jsonKeys(files: readonly string[], multiLine: boolean): JsonKeys {
  const keys = new Set<string>();
  let budget = JSON_SCAN_BYTES;
  for (const file of files) {
    if (budget <= 0) return { keys: [...keys], complete: false };
    const size = statSync(file).size;
    const text = readUpTo(file, Math.min(size, budget)).replace(/^\uFEFF/, '');
    const whole = size <= budget;
    budget -= size;
    if (multiLine) {
      if (!whole) return { keys: [...keys], complete: false };
      try {
        if (!addKeys(JSON.parse(text), keys)) return { unchecked: `${file} is not a JSON object or array of objects` };
      } catch {
        return { unchecked: `${file} is not one JSON value (multiLine)` };
      }
      continue;
    }
    const lines = text.split(/\r?\n/);
    // A file cut by the budget ends in a partial line: leave it out.
    if (!whole) lines.pop();
    for (let i = 0; i < lines.length; i++) {
      const line = (lines[i] as string).trim();
      if (line === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        return { unchecked: `${file}:${i + 1} is not JSON` };
      }
      if (!addKeys(v, keys)) return { unchecked: `${file}:${i + 1} is not a JSON object` };
    }
    if (!whole) return { keys: [...keys], complete: false };
  }
  return { keys: [...keys], complete: true };
}
