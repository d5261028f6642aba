/**
 * The result columns of a job's output and their Spark types as DDL, in output order (after the
 * key and the included columns; docs/architecture.md, "Output columns"). Resolved here once, into
 * the resolved job's `run.result_columns`, so that the Python driver parses them and derives none:
 * the `json` column's struct comes from the response schema's walk (src/response/schema.ts).
 */
import { BadArgumentError } from '../errors.ts';
import type { Job } from '../jobfile/schema.ts';
import { analyzeSchema, sparkTypeString, type SparkType } from '../response/schema.ts';

/** One result column: its name and its Spark type as DDL (`struct<`a`:string>`, `array<float>`). */
export interface ResultColumn {
  name: string;
  ddl: string;
}

/** A column or field name as a DDL identifier: backticks, with backticks doubled. */
function quoteName(name: string): string {
  return `\`${name.replaceAll('`', '``')}\``;
}

/** A Spark type as DDL that Spark parses back to the same type (field names quoted). */
export function sparkDdl(t: SparkType): string {
  return sparkTypeString(t, quoteName);
}

/** The `json` column: the response schema's struct for `response.format: json`, else a string (always null). */
function jsonDdl(job: Pick<Job, 'response'>): string {
  const r = job.response;
  if (r?.format !== 'json' || r.schema === undefined) return 'string';
  const t = analyzeSchema(r.schema).type;
  // The job was validated: a schema without a Spark type never gets here.
  if (t === undefined) throw new BadArgumentError('response.schema has no Spark type (the job was not validated)');
  return sparkDdl(t);
}

/**
 * The result columns, in output order. `embedding` exists only for `task: embed` (so that text
 * jobs can be written as CSV); `response` only for an OpenAI Batch input (the engine's raw reply).
 */
export function resultColumns(job: Job): ResultColumn[] {
  if (job.stages !== undefined) return stagedColumns(job.stages);
  const cols: ResultColumn[] = [
    { name: 'text', ddl: 'string' },
    { name: 'reasoning', ddl: 'string' },
    { name: 'json', ddl: jsonDdl(job) },
  ];
  if (job.task === 'embed') cols.push({ name: 'embedding', ddl: 'array<float>' });
  cols.push(
    { name: 'finish_reason', ddl: 'string' },
    { name: 'prompt_tokens', ddl: 'int' },
    { name: 'completion_tokens', ddl: 'int' },
    { name: 'latency_ms', ddl: 'double' },
    { name: 'attempts', ddl: 'int' },
    { name: 'error_code', ddl: 'string' },
    { name: 'error_message', ddl: 'string' },
    { name: 'model', ddl: 'string' },
  );
  if (job.input.format === 'openai-batch') cols.push({ name: 'response', ddl: 'string' });
  return cols;
}

/** A stage's struct: the fields of a one-stage result (docs/stages.md "Column layout"). */
function stageDdl(stage: Pick<Job, 'response'>): string {
  const fields: Array<[string, string]> = [
    ['text', 'string'],
    ['reasoning', 'string'],
    ['json', jsonDdl(stage)],
    ['finish_reason', 'string'],
    ['prompt_tokens', 'int'],
    ['completion_tokens', 'int'],
    ['latency_ms', 'double'],
    ['attempts', 'int'],
    ['error_code', 'string'],
    ['error_message', 'string'],
    ['model', 'string'],
  ];
  return `struct<${fields.map(([n, t]) => `${quoteName(n)}:${t}`).join(',')}>`;
}

/** A staged job: one struct column per stage, then the row's outcome (its error, tokens and attempts over the stages). */
function stagedColumns(stages: NonNullable<Job['stages']>): ResultColumn[] {
  return [
    ...stages.map((s) => ({ name: s.name, ddl: stageDdl(s) })),
    { name: 'error_code', ddl: 'string' },
    { name: 'error_message', ddl: 'string' },
    { name: 'prompt_tokens', ddl: 'int' },
    { name: 'completion_tokens', ddl: 'int' },
    { name: 'attempts', ddl: 'int' },
  ];
}
