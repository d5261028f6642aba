/**
 * A real HDFS for the storage tests: Hadoop 3.4.1's own NameNode and DataNode main classes, on
 * the class path `bash scripts/setup.sh --test-servers` fetches (scripts/lib/hdfs-test-jars.txt),
 * every address on 127.0.0.1, each in its own process group, its name and data folders in a
 * temporary folder. Files are put and read with Hadoop's FsShell, never through the code under test.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheDir } from '../../src/launch/paths.ts';
import { freePort } from '../../src/launch/port.ts';
import { waitFor } from './wait.ts';
import { tempDir } from './tmp.ts';

const run = promisify(execFile);

export function hdfsJarsDir(): string {
  return join(cacheDir(), 'jars', 'hdfs-3.4.1');
}

export interface HdfsServer {
  /** `hdfs://127.0.0.1:PORT` */
  uri: string;
  put(local: string, path: string): Promise<void>;
  /** The text of every file matching `glob` (FsShell -cat). */
  cat(glob: string): Promise<string>;
  /** Every path under `path`, recursively. */
  ls(path: string): Promise<string[]>;
  stop(): Promise<void>;
}

function site(props: Record<string, string>): string {
  return `<configuration>\n${Object.entries(props)
    .map(([k, v]) => `<property><name>${k}</name><value>${v}</value></property>`)
    .join('\n')}\n</configuration>\n`;
}

export async function startHdfs(): Promise<HdfsServer> {
  const jars = hdfsJarsDir();
  if (!existsSync(jars)) throw new Error(`no HDFS jars at ${jars}: run bash scripts/setup.sh --test-servers`);
  const dir = tempDir('hdfs');
  const conf = join(dir, 'conf');
  // The NameNode's and DataNode's web servers look for their webapps on the class path; the jars
  // don't carry them (the Hadoop distribution does), and empty ones serve /jmx well enough.
  for (const w of ['hdfs', 'datanode', 'static']) mkdirSync(join(conf, 'webapps', w), { recursive: true });
  const [rpc, http] = [await freePort(), await freePort()];
  writeFileSync(join(conf, 'core-site.xml'), site({ 'fs.defaultFS': `hdfs://127.0.0.1:${rpc}`, 'hadoop.tmp.dir': join(dir, 'tmp') }));
  writeFileSync(
    join(conf, 'hdfs-site.xml'),
    site({
      'dfs.namenode.name.dir': join(dir, 'name'),
      'dfs.datanode.data.dir': join(dir, 'data'),
      'dfs.replication': '1',
      'dfs.namenode.rpc-address': `127.0.0.1:${rpc}`,
      'dfs.namenode.http-address': `127.0.0.1:${http}`,
      'dfs.datanode.address': '127.0.0.1:0',
      'dfs.datanode.http.address': '127.0.0.1:0',
      'dfs.datanode.ipc.address': '127.0.0.1:0',
      'dfs.datanode.hostname': '127.0.0.1',
      'dfs.namenode.datanode.registration.ip-hostname-check': 'false',
      'dfs.permissions.enabled': 'false',
      'dfs.namenode.safemode.threshold-pct': '0',
    }),
  );
  writeFileSync(
    join(conf, 'log4j.properties'),
    [
      'log4j.rootLogger=WARN,console',
      'log4j.appender.console=org.apache.log4j.ConsoleAppender',
      'log4j.appender.console.target=System.err',
      'log4j.appender.console.layout=org.apache.log4j.PatternLayout',
      'log4j.appender.console.layout.ConversionPattern=%d %p %c{1}: %m%n',
      '',
    ].join('\n'),
  );
  const cp = [
    conf,
    ...readdirSync(jars)
      .filter((n) => n.endsWith('.jar'))
      .map((n) => join(jars, n)),
  ].join(':');
  // Errors name the Hadoop class and its arguments and quote its stderr, not the 100-jar class path.
  const java = async (args: string[]): Promise<{ stdout: string }> => {
    try {
      return await run('java', ['-Xmx256m', '-cp', cp, ...args], { maxBuffer: 64 << 20, timeout: 120_000 });
    } catch (err) {
      const e = err as { code?: number; stderr?: string };
      throw new Error(`java ${args.join(' ')} failed (${String(e.code)}): ${(e.stderr ?? '').slice(-1500)}`);
    }
  };
  await java(['org.apache.hadoop.hdfs.server.namenode.NameNode', '-format', '-nonInteractive']);
  const daemons: Array<{ child: ChildProcess; exited: Promise<void> }> = [];
  const start = (name: string, cls: string): void => {
    const log = openSync(join(dir, `${name}.log`), 'a');
    const child = spawn('java', ['-Xmx384m', '-cp', cp, cls], { detached: true, stdio: ['ignore', log, log] });
    daemons.push({ child, exited: new Promise<void>((res) => child.once('exit', () => res())) });
  };
  const stop = async (): Promise<void> => {
    for (const d of daemons) {
      try {
        process.kill(-(d.child.pid ?? 0), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    const t = setTimeout(() => {
      for (const d of daemons) {
        try {
          process.kill(-(d.child.pid ?? 0), 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    }, 5000);
    await Promise.all(daemons.map((d) => d.exited));
    clearTimeout(t);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    start('namenode', 'org.apache.hadoop.hdfs.server.namenode.NameNode');
    start('datanode', 'org.apache.hadoop.hdfs.server.datanode.DataNode');
    // Ready when the NameNode counts a live DataNode (its JMX servlet), within 120 s.
    await waitFor(
      'a live HDFS DataNode',
      async () => {
        const dead = daemons.find((d) => d.child.exitCode !== null);
        if (dead !== undefined)
          throw new Error(
            `an HDFS daemon exited: ${['namenode', 'datanode'].map((n) => readFileSync(join(dir, `${n}.log`), 'utf8').slice(-1500)).join('\n')}`,
          );
        try {
          const r = await fetch(`http://127.0.0.1:${http}/jmx?qry=Hadoop:service=NameNode,name=FSNamesystemState`);
          return (((await r.json()) as { beans?: Array<{ NumLiveDataNodes?: number }> }).beans?.[0]?.NumLiveDataNodes ?? 0) >= 1;
        } catch {
          return false; /* not listening yet */
        }
      },
      120_000,
      250,
    );
    const uri = `hdfs://127.0.0.1:${rpc}`;
    const shell = (args: string[]): Promise<{ stdout: string }> => java(['org.apache.hadoop.fs.FsShell', ...args]);
    return {
      uri,
      put: async (local, path) => {
        await shell(['-mkdir', '-p', path.replace(/\/[^/]*$/, '') || '/']);
        await shell(['-put', '-f', local, `${uri}${path}`]);
      },
      cat: async (glob) => (await shell(['-cat', `${uri}${glob}`])).stdout,
      ls: async (path) => (await shell(['-ls', '-R', '-C', `${uri}${path}`])).stdout.split('\n').filter((l) => l !== ''),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
