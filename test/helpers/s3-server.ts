/**
 * A real S3-compatible server for the storage tests: moto's standalone server (PyPI `moto`, in the
 * venv `bash scripts/setup.sh --test-servers` makes), on a free 127.0.0.1 port, in its own process
 * group, with authentication on: requests must be signed with the access key `start` creates
 * (a wrong secret is refused with SignatureDoesNotMatch, as on AWS). Buckets and objects are set up
 * and inspected through boto3 (test/helpers/s3_admin.py), never through the code under test.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ROOT } from './cli.ts';
import { cacheDir } from '../../src/launch/paths.ts';
import { freePort } from '../../src/launch/port.ts';
import { waitFor } from './wait.ts';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);
const ADMIN = join(ROOT, 'test', 'helpers', 's3_admin.py');

/** The venv setup installs moto into (`MOTO_VERSION` in scripts/setup.sh). */
export function motoVenv(): string {
  const m = /^MOTO_VERSION=(\S+)/m.exec(readFileSync(join(ROOT, 'scripts', 'setup.sh'), 'utf8'));
  if (m === null) throw new Error('no MOTO_VERSION in scripts/setup.sh');
  return join(cacheDir(), 'venvs', `moto-${m[1]}`);
}

export interface S3Listing {
  /** Object key → size. */
  keys: Record<string, number>;
  /** Keys of multipart uploads started and neither completed nor aborted. */
  uploads: string[];
}

export interface S3Server {
  /** `http://127.0.0.1:PORT` */
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** The environment a client needs: the key in the standard AWS variables, no instance metadata. */
  env: NodeJS.ProcessEnv;
  put(key: string, file: string): Promise<void>;
  list(prefix: string): Promise<S3Listing>;
  get(key: string): Promise<string>;
  stop(): Promise<void>;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

export async function startS3Server(bucket = 'data'): Promise<S3Server> {
  const venv = motoVenv();
  const bin = join(venv, 'bin', 'moto_server');
  if (!existsSync(bin)) throw new Error(`moto is not installed at ${venv}: run bash scripts/setup.sh --test-servers`);
  const port = await freePort();
  const dir = tempDir('s3');
  const log = openSync(join(dir, 'moto.log'), 'a');
  // The first 3 actions (init's IAM calls) are unsigned; every later one must be signed.
  const child: ChildProcess = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], {
    detached: true,
    stdio: ['ignore', log, log],
    env: { ...process.env, INITIAL_NO_AUTH_ACTION_COUNT: '3' },
  });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const stop = async (): Promise<void> => {
    try {
      process.kill(-(child.pid ?? 0), 'SIGTERM');
    } catch {
      /* gone */
    }
    const t = setTimeout(() => {
      try {
        process.kill(-(child.pid ?? 0), 'SIGKILL');
      } catch {
        /* gone */
      }
    }, 5000);
    await exited;
    clearTimeout(t);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitFor(
      `moto_server to listen on 127.0.0.1:${port}`,
      () => {
        if (child.exitCode !== null)
          throw new Error(`moto_server exited with ${child.exitCode}: ${readFileSync(join(dir, 'moto.log'), 'utf8').slice(-2000)}`);
        return portOpen(port);
      },
      60_000,
      100,
    );
    const endpoint = `http://127.0.0.1:${port}`;
    const py = join(venv, 'bin', 'python');
    const init = JSON.parse((await run(py, [ADMIN, endpoint, 'init', bucket])).stdout) as {
      access_key_id: string;
      secret_access_key: string;
    };
    const env: NodeJS.ProcessEnv = {
      AWS_ACCESS_KEY_ID: init.access_key_id,
      AWS_SECRET_ACCESS_KEY: init.secret_access_key,
      AWS_EC2_METADATA_DISABLED: 'true',
    };
    const admin = async (args: string[]): Promise<string> =>
      (await run(py, [ADMIN, endpoint, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 })).stdout;
    return {
      endpoint,
      bucket,
      accessKeyId: init.access_key_id,
      secretAccessKey: init.secret_access_key,
      env,
      put: async (key, file) => {
        await admin(['put', bucket, key, file]);
      },
      list: async (prefix) => JSON.parse(await admin(['list', bucket, prefix])) as S3Listing,
      get: (key) => admin(['get', bucket, key]),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
