/**
 * Samples a run once a second for the run report (src/report/run-report.ts): the workers' counts
 * from the run directory (src/rundir/progress.ts), the engine's load through the engine client
 * (src/engine/sampler.ts; `/slots` once for llama-server's slot count), each sample classified by
 * src/report/timeline.ts.
 */
import { EngineSampler } from '../engine/sampler.ts';
import { classify, type Sample, type Verdict, verdictOf } from '../report/timeline.ts';
import { readProgress } from '../rundir/progress.ts';
import { loadFromLlamaSlots } from '../scheduler/poller.ts';

/** Samples a run; `engineRoot` is the engine's server root (`http://127.0.0.1:PORT`), when the CLI can reach it. */
export class Timeline {
  readonly samples: Sample[] = [];
  #slots: number | undefined;
  #slotsAsked = false;
  readonly #runDir: string;
  readonly #engine: EngineSampler;
  readonly #engineKind: string;
  readonly #startedMs: number;

  constructor(o: { runDir: string; engineRoot?: string | undefined; engineKind: string; startedMs: number; apiKey?: string | undefined }) {
    this.#runDir = o.runDir;
    this.#engine = new EngineSampler({ root: o.engineRoot, apiKey: o.apiKey });
    this.#engineKind = o.engineKind;
    this.#startedMs = o.startedMs;
  }

  async sample(nowMs: number): Promise<Sample> {
    const p = readProgress(this.#runDir);
    if (!this.#slotsAsked && this.#engineKind === 'llama-server' && (p.active ?? 0) > 0) {
      this.#slotsAsked = true;
      const text = await this.#engine.get('/slots');
      this.#slots = text !== undefined ? loadFromLlamaSlots(text)?.slots : undefined;
    }
    const load = (p.active ?? 0) > 0 ? await this.#engine.load() : undefined;
    const base = {
      t: nowMs - this.#startedMs,
      rowsDone: p.rowsDone,
      rowsFailed: p.rowsFailed,
      completionTokens: p.completionTokens,
      inflight: p.inflight,
      window: p.window ?? 0,
      active: p.active ?? 0,
      running: load?.running,
      waiting: load?.waiting,
      kvUsage: load?.kvUsage,
    };
    const s: Sample = { ...base, class: classify(base, this.#slots) };
    this.samples.push(s);
    return s;
  }

  verdict(): Verdict {
    return verdictOf(this.samples);
  }
}
