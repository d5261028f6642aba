/** One `/health` probe and the log-file tail used in error messages. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { request } from 'node:http';

export interface ProbeResult {
  /** The engine answered 200. */
  ok: boolean;
  /** Short human description of the answer: `loading model`, `not listening yet`, `HTTP 500`. */
  status: string;
}

function describeAnswer(statusCode: number, body: string): string {
  try {
    // llama-server and vLLM: {"error":{"code":503,"message":"Loading model",...}}
    const parsed = JSON.parse(body) as { error?: { message?: unknown }; status?: unknown };
    const message = parsed.error?.message ?? parsed.status;
    if (typeof message === 'string' && message !== '') return message.toLowerCase();
  } catch {
    // not JSON: fall through to the status code
  }
  return `HTTP ${statusCode}`;
}

/**
 * GET `url` once. Never rejects: a refused connection or a timeout is an answer too.
 * A fresh connection each time (no agent), so that no pooled socket outlives the engine.
 */
export function probeHealth(url: string, timeoutMs: number, signal?: AbortSignal): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = request(url, { agent: false, timeout: timeoutMs, ...(signal ? { signal } : {}) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4096) body += chunk;
      });
      res.on('end', () => resolve({ ok: res.statusCode === 200, status: res.statusCode === 200 ? 'ok' : describeAnswer(res.statusCode ?? 0, body) }));
      res.on('error', (err) => resolve({ ok: false, status: err.message }));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
    req.on('error', (err: NodeJS.ErrnoException) => {
      resolve({ ok: false, status: err.code === 'ECONNREFUSED' ? 'not listening yet' : err.message });
    });
    req.end();
  });
}

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
    return text.split('\n').filter((l) => l.trim() !== '').slice(-maxLines).join('\n');
  } catch {
    return '';
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
