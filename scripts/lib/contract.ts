/**
 * What the Python driver takes from the job schema, so that the two languages cannot drift: the
 * input and output formats, output modes, tasks, duration units, the defaults every resolved job
 * carries (the CLI applies them; test/python/test_units.py checks that the job `validate --json`
 * resolves for infer() has each), and the failure budget's rule as worked examples.
 *
 * `node scripts/gen-contract.ts` writes it as python/sparkinfer/contract.py, which job.py and
 * watch.py read; test/unit/contract.test.ts fails when that file is not what this module makes,
 * and test/python/test_units.py checks watch.py's budget rule against the examples.
 */
import { budgetExceeded } from '../../src/rundir/budget.ts';
import { InputFormat, JobSpec, OutputFormat, OutputMode, RESULT_COLUMNS, Task } from '../../src/jobfile/schema.ts';
import { UNIT_MS } from '../../src/jobfile/units.ts';

/** The fields whose defaults the driver relies on (the CLI applies them: the driver reads resolved jobs only). */
export const DRIVER_DEFAULT_FIELDS = [
  'task',
  'input.options',
  'input.keep_model',
  'output.format',
  'output.mode',
  'output.include',
  'output.include_request',
  'output.partition_by',
  'output.files',
  'spark.partitions',
  'spark.conf',
  'spark.hive',
  'engine.startup_timeout',
  'engine.prefix_order',
  'limits.max_failed_fraction',
  'limits.min_rows_for_budget',
  'response.format',
] as const;

export interface DriverContract {
  input_formats: string[];
  output_formats: string[];
  output_modes: string[];
  tasks: string[];
  /** The output's result columns (besides the key and included columns): no input column may take these names. */
  result_columns: string[];
  duration_units_ms: Record<string, number>;
  /** Dotted field → its default, as the resolved job carries it (durations in ms). */
  defaults: Record<string, unknown>;
  /** `budgetExceeded(limits, finished, failed)` on a grid around its edges. */
  failure_budget_examples: Array<{
    max_failed_fraction: number;
    min_rows_for_budget: number;
    finished: number;
    failed: number;
    exceeded: boolean;
  }>;
}

function at(obj: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], obj);
}

export function driverContract(): DriverContract {
  // The smallest job the schema accepts: everything else comes out of it as a default.
  const minimal = JobSpec.parse({
    name: 'contract',
    model: 'm',
    prompt: { user: '{{ q }}' },
    input: { format: 'json', path: '/in' },
    output: { path: '/out' },
    engine: { endpoint: 'http://127.0.0.1:1/v1' },
  });
  const defaults: Record<string, unknown> = {};
  for (const f of DRIVER_DEFAULT_FIELDS) {
    const v = at(minimal, f);
    if (v === undefined) throw new Error(`the job schema has no default for ${f}`);
    defaults[f] = v;
  }
  const examples: DriverContract['failure_budget_examples'] = [];
  for (const [fraction, minRows] of [
    [0.01, 100],
    [0, 0],
    [0.5, 10],
    [1, 1],
  ] as const) {
    for (const finished of [0, 1, minRows - 1, minRows, minRows + 1, 1000]) {
      if (finished < 0) continue;
      for (const failed of [0, 1, Math.floor(finished * fraction), Math.floor(finished * fraction) + 1, finished]) {
        if (failed > finished) continue;
        const limits = { max_failed_fraction: fraction, min_rows_for_budget: minRows };
        examples.push({
          ...limits,
          finished,
          failed,
          exceeded: budgetExceeded(limits as Parameters<typeof budgetExceeded>[0], finished, failed),
        });
      }
    }
  }
  const seen = new Set<string>();
  return {
    input_formats: [...InputFormat.options],
    output_formats: [...OutputFormat.options],
    output_modes: [...OutputMode.options],
    tasks: [...Task.options],
    result_columns: [...RESULT_COLUMNS],
    duration_units_ms: { ...UNIT_MS },
    defaults,
    failure_budget_examples: examples.filter((e) => {
      const k = JSON.stringify(e);
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    }),
  };
}

/** python/sparkinfer/contract.py's text: the contract as JSON inside a Python module (shipped wherever the driver's .py files go). */
export function contractPython(): string {
  // One line per top-level field and per budget example: diffs stay readable.
  const c = driverContract();
  const lines = Object.entries(c).map(([k, v]) =>
    Array.isArray(v) && typeof v[0] === 'object'
      ? ` ${JSON.stringify(k)}: [\n${v.map((e) => `  ${JSON.stringify(e)}`).join(',\n')}\n ]`
      : ` ${JSON.stringify(k)}: ${JSON.stringify(v)}`,
  );
  const json = `{\n${lines.join(',\n')}\n}`;
  return [
    '"""The job contract the driver shares with the CLI. Generated from scripts/lib/contract.ts by',
    '`node scripts/gen-contract.ts`; do not edit (test/unit/contract.test.ts fails when it drifts)."""',
    'import json',
    '',
    `CONTRACT = json.loads(r'''${json}''')`,
    '',
  ].join('\n');
}
