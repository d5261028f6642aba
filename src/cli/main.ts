/**
 * The CLI: commander wiring only. Arguments become library calls; errors become exit codes through
 * the one table in exit-codes.ts. stdout carries results and --json output only; logs and progress
 * go to stderr.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT } from '../exit-codes.ts';
import { runJob } from '../job/run.ts';
import { resolveJob } from '../job/resolve.ts';
import { newRunId, resolvedJob } from '../plan/run-block.ts';
import { preflight, reportPreflight } from '../job/preflight.ts';
import { DEFAULT_SAMPLE, DEFAULT_SEED, ESTIMATE_FILE, estimateJob } from '../job/estimate.ts';
import { engineKindOf } from '../jobfile/schema.ts';
import { withoutStandIns } from '../jobfile/dataframe.ts';
import { formatProjection, interruptSignal, printFailure, printFinished, runCommand, stderrSinks } from './console.ts';
import { registerBatchCommand } from './batch.ts';
import { spawnSync } from 'node:child_process';
import { packageVersion, setupScript, venvDir } from '../install/layout.ts';
import { cacheDir } from '../launch/paths.ts';
import { checkInt } from '../checks.ts';
import { BadArgumentError } from '../errors.ts';
import type { KubeClient } from '../k8s/client.ts';

const collect = (v: string, prev: string[]): string[] => [...prev, v];
/** A commander parser for an integer flag from `from` up; a bad value is a usage error (exit 2) quoting the text given. */
const intFlag =
  (name: string, from = 1) =>
  (v: string): number => {
    const n = Number(v);
    try {
      return checkInt(name, v.trim() === '' || Number.isNaN(n) ? v : n, from);
    } catch (err) {
      if (err instanceof BadArgumentError) throw new InvalidArgumentError(err.message);
      throw err;
    }
  };

/** A warning line on stderr, as the CLI's other messages. */
const warnOnStderr = (message: string): void => {
  process.stderr.write(`sparkinfer: ${message}\n`);
};

function fail(err: unknown, json: boolean): never {
  process.exit(printFailure(err, json));
}

const program = new Command('sparkinfer')
  .description('Offline batch LLM inference as Apache Spark jobs')
  .version(packageVersion(), '-V, --version', 'print the version')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT.UNUSABLE));

program
  .command('setup')
  .option('--check', 'only report what is present; exit 1 if something is missing')
  .description(
    'prepare, once, a pyspark venv, llama-server (compiled the first time: about 15 min on 2 cores, longer on busy ones) and the demo model in $SPARKINFER_CACHE (~/.cache/sparkinfer)',
  )
  .action((opts: { check?: boolean }) => {
    // scripts/setup.sh does the work, for a checkout and an installed package alike; it runs
    // its jvm-archive step on this same Node.
    process.stderr.write(`sparkinfer: setup into ${cacheDir()} (venv: ${venvDir()})\n`);
    const r = spawnSync('bash', [setupScript(), ...(opts.check === true ? ['--check'] : [])], {
      stdio: 'inherit',
      env: { ...process.env, SPARKINFER_NODE: process.env.SPARKINFER_NODE || process.execPath },
    });
    process.exitCode = r.status ?? EXIT.RUNTIME;
  });

program
  .command('validate')
  .argument('<job>', 'job file (YAML)')
  .option('--set <path=value>', 'override a job field (repeatable)', collect, [])
  .option('--json', 'print the resolved job as JSON on stdout (the job file for the PySpark infer())')
  .option(
    '--no-input-check',
    "the job of infer(), which passes a DataFrame and writes the result itself: `input:` and `output:` may be left out, and the input's path and columns are not checked",
  )
  .description('check a job file, its input (path, columns) and sampling keys without running anything, and print what it references')
  .action((jobPath: string, opts: { set: string[]; json?: boolean; inputCheck: boolean }) => {
    try {
      const { job, columns, chatTemplate, located, baseDir } = resolveJob(jobPath, opts.set, { dataframe: !opts.inputCheck });
      // Input path, columns and sampling keys: errors exit 2, warnings and "not checked" notes go to stderr.
      const findings = preflight(located, baseDir, { input: opts.inputCheck });
      reportPreflight(findings, jobPath, (line) => process.stderr.write(`${line}\n`), true);
      if (opts.json === true) {
        // The job infer() runs: its run block from the same plan as a local run's (a new run id,
        // the columns, the result columns with their Spark types, a client-side chat template).
        // infer() adds only the run directory; each infer() given this printed job keeps its run id.
        const resolved = resolvedJob(job, {
          id: newRunId(job.name),
          dir: '',
          root: '',
          endpoint: job.engine.endpoint ?? '',
          engineKind: engineKindOf(job),
          fingerprint: '',
          fresh: true,
          chatTemplate,
        });
        process.stdout.write(`${JSON.stringify(withoutStandIns(resolved, located.standIns))}\n`);
      }
      process.stderr.write(`${jobPath}: ok (task ${job.task}, model ${job.model}, columns: ${columns.join(', ') || 'none'})\n`);
    } catch (err) {
      fail(err, false);
    }
  });

program
  .command('run')
  .argument('<job>', 'job file (YAML)')
  .option('--set <path=value>', 'override a job field (repeatable)', collect, [])
  .addOption(new Option('--limit <n>', 'only the first N rows (a quick trial)').argParser(intFlag('--limit')))
  .option('--fresh', 'ignore results of earlier runs (start over)')
  .option('--retry-errors', 're-infer rows that finished with an error in an earlier run')
  .option('--json', 'print the summary JSON as the last stdout line')
  .description('run a job with Spark')
  .action(async (jobPath: string, opts: { set: string[]; limit?: number; fresh?: boolean; retryErrors?: boolean; json?: boolean }) => {
    await runCommand(opts.json === true, (io) =>
      runJob({
        jobPath,
        set: opts.set,
        fresh: opts.fresh === true,
        retryErrors: opts.retryErrors === true,
        ...(opts.limit !== undefined ? { limit: opts.limit } : {}),
        ...io,
      }),
    );
  });

program
  .command('estimate')
  .argument('<job>', 'job file (YAML)')
  .option('--set <path=value>', 'override a job field (repeatable)', collect, [])
  .addOption(
    new Option('--sample <n>', 'rows to infer for the completion tokens and the throughput (they go to the ledger)')
      .argParser(intFlag('--sample'))
      .default(DEFAULT_SAMPLE),
  )
  .addOption(
    new Option('--seed <n>', 'which rows the sample takes (the same seed, the same rows)')
      .argParser(intFlag('--seed', 0))
      .default(DEFAULT_SEED),
  )
  .option('--json', 'print the projection as one JSON object on stdout')
  .description("count every row's prompt tokens with the engine's tokenizer, infer a sample, and project tokens, time and cost")
  .action(async (jobPath: string, opts: { set: string[]; sample: number; seed: number; json?: boolean }) => {
    const json = opts.json === true;
    const signal = interruptSignal();
    const sinks = stderrSinks();
    try {
      const r = await estimateJob({
        jobPath,
        set: opts.set,
        sample: opts.sample,
        seed: opts.seed,
        log: sinks.log,
        progress: sinks.progress,
        tty: sinks.tty,
        signal,
      });
      // A failed estimate prints what a failed run prints (with --json, its summary).
      if (r.projection === undefined) printFinished(r.summary, sinks, json);
      else {
        if (sinks.tty) process.stderr.write('\r\x1b[K');
        process.stderr.write(`${formatProjection(r.projection, `${r.summary.run_dir}/${ESTIMATE_FILE}`)}\n`);
        if (json) process.stdout.write(`${JSON.stringify({ ...r.projection, run_dir: r.summary.run_dir })}\n`);
      }
      process.exitCode = r.exitCode;
    } catch (err) {
      fail(err, json);
    }
  });

program
  .command('jvm-archive')
  .option('--force', 'rebuild it even if it exists')
  .option('--json', 'print {path, built, bytes, seconds} as the last stdout line')
  .description("build the JVM class-data archive that makes every later job's Spark start faster (once per Spark and Java install)")
  .action(async (opts: { force?: boolean; json?: boolean }) => {
    const json = opts.json === true;
    try {
      const { buildJvmArchive } = await import('../job/build-jvm-archive.ts');
      const sinks = stderrSinks();
      const r = await buildJvmArchive({ force: opts.force === true, log: sinks.log });
      const mb = (r.bytes / 1048576).toFixed(0);
      sinks.log(
        r.built
          ? `sparkinfer: wrote ${r.path} (${mb} MiB) in ${r.seconds.toFixed(0)} s; later jobs map it`
          : `sparkinfer: ${r.path} exists (${mb} MiB); --force rebuilds it`,
      );
      if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    } catch (err) {
      fail(err, json);
    }
  });

program
  .command('render')
  .argument('<job>', 'job file (YAML)')
  .addOption(new Option('--target <target>', 'where it runs').choices(['k8s']).default('k8s'))
  .option('--set <path=value>', 'override a job field (repeatable)', collect, [])
  .description('print the Kubernetes manifests for a job')
  .action(async (jobPath: string, opts: { set: string[] }) => {
    try {
      const { renderForCli } = await import('../k8s/cli.ts');
      // stdout is the manifests: the warning goes to stderr.
      process.stdout.write(await renderForCli(jobPath, opts.set, { warn: warnOnStderr }));
    } catch (err) {
      fail(err, false);
    }
  });

interface KubeFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
}
const kubeOptions = (c: Command): Command =>
  c
    .option('--kubeconfig <file>', 'kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .option('-n, --namespace <ns>', "namespace (default: the job's, else the context's)");
const connectOpts = (o: KubeFlags): KubeFlags => ({
  ...(o.kubeconfig !== undefined ? { kubeconfig: o.kubeconfig } : {}),
  ...(o.context !== undefined ? { context: o.context } : {}),
  ...(o.namespace !== undefined ? { namespace: o.namespace } : {}),
});

kubeOptions(
  program
    .command('submit')
    .argument('<job>', 'job file (YAML)')
    .addOption(new Option('--target <target>', 'where it runs').choices(['k8s']).default('k8s'))
    .option('--set <path=value>', 'override a job field (repeatable)', collect, [])
    .option('--no-watch', 'return after submitting instead of following the run')
    .option('--dry-run', 'validate on the server (dry run), store nothing')
    .option('--image <image>', 'the sparkinfer image')
    .description('submit a job as a SparkApplication (server-side apply) and follow it'),
).action(async (jobPath: string, opts: KubeFlags & { set: string[]; watch: boolean; dryRun?: boolean; image?: string }) => {
  const k8s = await import('../k8s/submit.ts');
  const { formatStatus } = await import('../k8s/watch.ts');
  const { driverMessage, formatDriverProgress } = await import('../k8s/logs.ts');
  const tty = process.stderr.isTTY === true;
  try {
    const r = await k8s.submit(jobPath, {
      ...connectOpts(opts),
      set: opts.set,
      watch: opts.watch,
      dryRun: opts.dryRun === true,
      ...(opts.image !== undefined ? { image: opts.image } : {}),
      warn: warnOnStderr,
    });
    process.stdout.write(`${r.name}\n`);
    if (!opts.watch || opts.dryRun === true) {
      await r.client.close();
      return;
    }
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    try {
      const out = await k8s.followRun(r, {
        signal: ac.signal,
        onStatus: (st) => process.stderr.write(`${formatStatus(st)}\n`),
        onProgress: (p) => process.stderr.write(tty ? `\r\x1b[K${formatDriverProgress(p, tty)}` : `${formatDriverProgress(p, tty)}\n`),
        onLogLine: (line) => {
          const m = driverMessage(line);
          if (m !== undefined) process.stderr.write(`${tty ? '\r\x1b[K' : ''}${m}\n`);
        },
      });
      process.exitCode = out.exitCode;
    } catch (err) {
      if (!ac.signal.aborted) throw err;
      process.stderr.write(`${(await k8s.handleInterrupt(r.client, r.name)).message}\n`);
      process.exitCode = EXIT.INTERRUPTED;
    } finally {
      await r.client.close();
    }
  } catch (err) {
    fail(err, false);
  }
});

/**
 * Runs a command that talks to a cluster: connecting (kubeconfig, context) is inside the same
 * error handling as the command, so a missing kubeconfig is a clean exit 2 like `submit`'s.
 */
async function withKubeClient(
  opts: KubeFlags,
  run: (client: KubeClient, k8s: typeof import('../k8s/submit.ts')) => Promise<void>,
): Promise<void> {
  const k8s = await import('../k8s/submit.ts');
  let client: KubeClient | undefined;
  try {
    client = k8s.connect(connectOpts(opts));
    await run(client, k8s);
    await client.close();
  } catch (err) {
    await client?.close();
    fail(err, false);
  }
}

kubeOptions(program.command('status').argument('<run>', 'application name or run id').description("show a Kubernetes run's state")).action(
  (name: string, opts: KubeFlags) =>
    withKubeClient(opts, async (client) => {
      const { getStatus, formatStatus, exitCodeOfState } = await import('../k8s/watch.ts');
      const st = await getStatus(client, name);
      process.stdout.write(`${formatStatus(st)}\n`);
      process.exitCode = exitCodeOfState(st.state) ?? 0;
    }),
);

kubeOptions(
  program
    .command('logs')
    .argument('<run>', 'application name or run id')
    .option('-f, --follow', 'keep following')
    .description("print the driver's log (progress lines go to stderr)"),
).action((name: string, opts: KubeFlags & { follow?: boolean }) =>
  withKubeClient(opts, async (client, k8s) => {
    const { parseProgressLine, formatDriverProgress } = await import('../k8s/logs.ts');
    for await (const line of k8s.driverLogs(client, name, { follow: opts.follow === true })) {
      const p = parseProgressLine(line);
      if (p !== undefined) process.stderr.write(`${formatDriverProgress(p, false)}\n`);
      else process.stdout.write(`${line}\n`);
    }
  }),
);

kubeOptions(
  program.command('cancel').argument('<run>', 'application name or run id').description("delete a Kubernetes run's applications"),
).action((name: string, opts: KubeFlags) =>
  withKubeClient(opts, async (client, k8s) => {
    const r = await k8s.cancel(client, name);
    process.stderr.write(`sparkinfer: deleted ${r.deleted.join(', ') || 'nothing'}\n`);
  }),
);

// `sparkinfer batch`: an OpenAI Batch file in, an OpenAI Batch file out (src/cli/batch.ts).
registerBatchCommand(program);

await program.parseAsync(process.argv);
