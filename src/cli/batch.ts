/**
 * The `batch` verb's commander wiring: flags to `runBatch` (src/job/batch.ts, an OpenAI Batch file
 * run through Spark) and the summary printed like `run`'s.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { runBatch } from '../job/batch.ts';
import { runCommand } from './console.ts';

/** Adds the `batch` verb to the CLI (src/cli/main.ts). */
export function registerBatchCommand(program: Command): void {
  program
    .command('batch')
    .requiredOption('-i, --input <file>', 'OpenAI Batch input file (JSON lines of custom_id, method, url, body)')
    .requiredOption('-o, --output <file>', 'output file (JSON lines of id, custom_id, response, error)')
    .option('--endpoint <url>', 'an OpenAI-compatible endpoint, including /v1')
    .option('--launch', 'start a local llama-server for the run (embeddings-only when every line is /v1/embeddings)')
    .option(
      '--model <name>',
      "model for every request (replaces each line's model); with --launch, the model to start (default: the demo model)",
    )
    .addOption(new Option('--kind <kind>', 'engine adapter for --endpoint').choices(['llama-server', 'vllm', 'openai']).default('openai'))
    .option('--keep-model', "send each line's own model even with --model")
    .option('--overwrite', 'replace the output file if it exists')
    .option('--fresh', 'ignore results of an earlier, unfinished run')
    .option('--set <path=value>', 'override a field of the generated job (repeatable)', (v: string, prev: string[]) => [...prev, v], [])
    .option('--json', 'print the summary JSON as the last stdout line')
    .description('run an OpenAI Batch file with Spark (like `vllm run-batch`)')
    .action(
      async (opts: {
        input: string;
        output: string;
        endpoint?: string;
        launch?: boolean;
        model?: string;
        kind: 'llama-server' | 'vllm' | 'openai';
        keepModel?: boolean;
        overwrite?: boolean;
        fresh?: boolean;
        set: string[];
        json?: boolean;
      }) => {
        await runCommand(opts.json === true, (io) =>
          runBatch({
            input: opts.input,
            output: opts.output,
            kind: opts.kind,
            set: opts.set,
            ...(opts.endpoint !== undefined ? { endpoint: opts.endpoint } : {}),
            ...(opts.launch === true ? { launch: true } : {}),
            ...(opts.model !== undefined ? { model: opts.model } : {}),
            keepModel: opts.keepModel === true,
            overwrite: opts.overwrite === true,
            fresh: opts.fresh === true,
            ...io,
          }),
        );
      },
    );
}
