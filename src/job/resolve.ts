/**
 * The resolve phase of run, estimate and batch: the job file loaded and validated (defaults, `--set`,
 * the columns the templates read, the chat template read now), and what a local target adds to it:
 * its paths resolved against the job file's folder and the input's identity for the fingerprint.
 * Nothing is started here; every problem is a SpecError or InputError (exit 2).
 */
import { stageInputColumns } from '../prompt/stage-names.ts';
import { readdirSync, statSync, type Stats } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Job } from '../jobfile/schema.ts';
import { loadLocatedJobFile, type LocatedJob } from '../validate/job.ts';
import { referencedColumns } from '../prompt/analyze.ts';
import { loadChatTemplate, type ChatTemplateSource } from '../prompt/chat-template.ts';
import { resolveModel } from '../launch/paths.ts';
import { resolvePath } from './run-setup.ts';

export interface ResolvedFile {
  job: Job;
  baseDir: string;
  columns: string[];
  chatTemplate: ChatTemplateSource | undefined;
  located: LocatedJob;
}

/**
 * Resolves the job (validation, columns, chat template) without starting anything. `dataframe`:
 * the job of infer(), whose `input` and `output` may be left out (src/jobfile/dataframe.ts).
 */
export function resolveJob(jobPath: string, set: string[] = [], o: { dataframe?: boolean } = {}): ResolvedFile {
  const located = loadLocatedJobFile(jobPath, { set, dataframe: o.dataframe === true });
  const { job } = located;
  const columns = job.stages !== undefined ? stageInputColumns(job.stages) : referencedColumns(job.prompt);
  const baseDir = dirname(resolve(jobPath));
  return { job, baseDir, columns, chatTemplate: chatTemplateOf(job, baseDir), located };
}

/** `prompt.chat_template` read now (exit 2 when unusable) and shipped in job.json, so executors need neither model nor file. */
export function chatTemplateOf(job: Job, baseDir: string): ChatTemplateSource | undefined {
  const spec = job.prompt.chat_template;
  if (spec === undefined) return undefined;
  const launch = job.engine.launch;
  const gguf = launch?.kind === 'llama-server' ? resolveModel(launch.model, { baseDir }) : undefined;
  return loadChatTemplate(spec, { baseDir, ggufModel: gguf });
}

/** The job with its input and output paths resolved against the job file's folder (URIs kept). */
export function withLocalPaths(job: Job, baseDir: string): Job {
  const at = <T extends { path?: string | undefined }>(s: T): T =>
    s.path !== undefined ? { ...s, path: resolvePath(s.path, baseDir) } : s;
  return { ...job, input: at(job.input), output: at(job.output) };
}

/** Input identity for the fingerprint: file paths with sizes and mtimes, or the table/query text. */
export function inputIdentity(job: Job, baseDir: string): string {
  const inp = job.input;
  if (inp.path === undefined) return `${inp.format}:${inp.table ?? ''}:${inp.query ?? ''}`;
  const p = resolvePath(inp.path, baseDir);
  if (/^[a-z][a-z0-9+.-]*:/i.test(p) && !p.startsWith('file:')) return `${inp.format}:${p}`;
  const local = p.replace(/^file:(\/\/)?/, '');
  const parts: string[] = [];
  const walk = (f: string): void => {
    let st: Stats;
    try {
      st = statSync(f);
    } catch {
      parts.push(`${f}:missing`);
      return;
    }
    if (st.isDirectory())
      for (const n of readdirSync(f).sort()) {
        if (!n.startsWith('.') && !n.startsWith('_')) walk(join(f, n));
      }
    else parts.push(`${f}:${st.size}:${Math.round(st.mtimeMs)}`);
  };
  walk(local);
  return `${inp.format}:${parts.join('|')}`;
}
