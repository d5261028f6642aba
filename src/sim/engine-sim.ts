/**
 * A SIMULATED continuous-batching LLM engine (a model, not an engine: it computes nothing). It
 * exists to test the adaptive in-flight window and to benchmark what cannot run here (GPU-scale
 * engines). The model, in the spirit of vLLM's scheduler:
 *
 * - The engine runs steps back to back while it has work. A step decodes one token for every
 *   running sequence and takes `baseStepMs + perSeqStepMs × batch` plus the prefill of the
 *   sequences admitted in that step (`prefillMsPerToken × tokens`). Bigger batches give more tokens
 *   per second, with diminishing returns.
 * - At most `slots` sequences run at once (vLLM's `max_num_seqs`, llama-server's `--parallel`).
 * - A sequence holds prompt + generated tokens of KV cache. Admission only checks that the
 *   sequence fits now (plus a small watermark), not that it will fit when it has grown. When the
 *   running sequences outgrow `kvCapacityTokens`, the youngest one is preempted: it frees its KV
 *   cache and goes back to the front of the queue, and its prompt and generated tokens are
 *   prefilled again when it is re-admitted. That recompute is wasted work, so over-subscribing a
 *   KV-limited engine lowers its throughput.
 * - Requests that cannot start wait in a FIFO queue of at most `maxWaiting`; past it the engine
 *   answers 503 at once. A request longer than the whole KV cache is answered 400.
 * - `metrics()` reports what vLLM's /metrics does: waiting, running, KV usage and preemptions.
 */
import { badArgument, checkInt, checkNumber } from '../checks.ts';
import type { SimClock, SimTimer } from './clock.ts';

export interface SimEngineOptions {
  /** Clock to run on: a `VirtualClock` in tests, a `RealClock` behind the HTTP server. */
  clock: SimClock;
  /** Maximum running sequences (the batch). Default 64. */
  slots?: number;
  /** KV-cache capacity in tokens, over all running sequences. Default Infinity (slot-limited). */
  kvCapacityTokens?: number;
  /** Maximum queued requests; more are answered 503. Default 1024 (Infinity: unbounded). */
  maxWaiting?: number;
  /** Fixed cost of one decode step, in ms. Default 20. */
  baseStepMs?: number;
  /** Added cost per running sequence in a step, in ms. Default 0.25. */
  perSeqStepMs?: number;
  /** Prefill (and recompute) cost per token, in ms. Default 0.02. */
  prefillMsPerToken?: number;
  /** Fraction of the KV cache kept free at admission (vLLM's watermark). Default 0.01. */
  admitWatermark?: number;
}

export interface SimRequest {
  /** Prompt length in tokens (at least 1). */
  promptTokens: number;
  /** Tokens to generate (at least 1); the sequence finishes after exactly this many. */
  outputTokens: number;
}

export interface SimResult {
  /** 200, 503 (queue full) or 400 (longer than the KV cache). */
  status: 200 | 400 | 503;
  promptTokens: number;
  completionTokens: number;
  /** Simulated ms from submit to the end (answer or rejection). */
  latencyMs: number;
  /** Simulated ms spent waiting before the first admission. */
  queuedMs: number;
  /** How often this request was preempted. */
  preemptions: number;
}

export interface SimMetrics {
  waiting: number;
  running: number;
  /** Used KV cache as a fraction 0..1 (0 when the capacity is unbounded). */
  kvUsage: number;
  /** Preemptions since start (a counter). */
  preemptions: number;
}

export interface SimStats extends SimMetrics {
  submitted: number;
  completed: number;
  rejected: number;
  cancelled: number;
  /** Completion tokens of finished requests: the useful output. */
  completionTokens: number;
  promptTokens: number;
  /** Tokens prefilled again after a preemption: wasted work. */
  recomputedTokens: number;
  steps: number;
  /** Simulated ms the engine spent running steps. */
  busyMs: number;
}

export interface SimHandle {
  /** Drops the request (a client that went away). Its callback is never called afterwards. */
  cancel(): void;
}

interface Seq {
  req: SimRequest;
  submittedAt: number;
  admittedAt: number | undefined;
  generated: number;
  /** KV tokens currently held (0 while waiting). */
  held: number;
  preemptions: number;
  /** Needs (re)prefill at its next admission. */
  fresh: boolean;
  /** An admission left it waiting (or it was preempted): the engine's `waiting` gauge shows it. */
  passed: boolean;
  done: boolean;
  onDone: (r: SimResult) => void;
}

type Speed = Pick<Required<SimEngineOptions>, 'baseStepMs' | 'perSeqStepMs' | 'prefillMsPerToken'>;

export class SimEngine {
  readonly slots: number;
  readonly kvCapacityTokens: number;
  readonly maxWaiting: number;
  readonly #clock: SimClock;
  readonly #watermark: number;
  #speed: Speed;
  readonly #waiting: Seq[] = [];
  /** In admission order: the last one is the youngest, the first to be preempted. */
  #running: Seq[] = [];
  #used = 0;
  #step: SimTimer | undefined;
  #stats: SimStats = {
    waiting: 0,
    running: 0,
    kvUsage: 0,
    preemptions: 0,
    submitted: 0,
    completed: 0,
    rejected: 0,
    cancelled: 0,
    completionTokens: 0,
    promptTokens: 0,
    recomputedTokens: 0,
    steps: 0,
    busyMs: 0,
  };

  constructor(options: SimEngineOptions) {
    const o = options;
    if (o === null || typeof o !== 'object' || o.clock === undefined) throw badArgument('SimEngine needs `clock`');
    this.#clock = o.clock;
    this.slots = checkInt('slots', o.slots ?? 64, 1);
    this.kvCapacityTokens = checkInt('kvCapacityTokens', o.kvCapacityTokens ?? Number.POSITIVE_INFINITY, 1, Number.POSITIVE_INFINITY, true);
    this.maxWaiting = checkInt('maxWaiting', o.maxWaiting ?? 1024, 0, Number.POSITIVE_INFINITY, true);
    this.#watermark = checkNumber('admitWatermark', o.admitWatermark ?? 0.01, 0, 0.5);
    this.#speed = { baseStepMs: 20, perSeqStepMs: 0.25, prefillMsPerToken: 0.02 };
    this.setSpeed(o);
  }

  /** Changes the step costs from the next step on (a slower or faster engine). */
  setSpeed(speed: Partial<Speed>): void {
    const next = { ...this.#speed };
    if (speed.baseStepMs !== undefined) next.baseStepMs = checkNumber('baseStepMs', speed.baseStepMs, 0);
    if (speed.perSeqStepMs !== undefined) next.perSeqStepMs = checkNumber('perSeqStepMs', speed.perSeqStepMs, 0);
    if (speed.prefillMsPerToken !== undefined) next.prefillMsPerToken = checkNumber('prefillMsPerToken', speed.prefillMsPerToken, 0);
    if (next.baseStepMs + next.perSeqStepMs <= 0) throw badArgument('Expected `baseStepMs` + `perSeqStepMs` to be above 0, got 0');
    this.#speed = next;
  }

  /** Queues a request; `onDone` is called once, later (never synchronously), unless cancelled. */
  submit(req: SimRequest, onDone: (r: SimResult) => void): SimHandle {
    checkInt('promptTokens', req.promptTokens, 1);
    checkInt('outputTokens', req.outputTokens, 1);
    const now = this.#clock.now();
    const seq: Seq = {
      req,
      submittedAt: now,
      admittedAt: undefined,
      generated: 0,
      held: 0,
      preemptions: 0,
      fresh: true,
      passed: false,
      done: false,
      onDone,
    };
    this.#stats.submitted++;
    const tooLong = req.promptTokens + req.outputTokens > this.kvCapacityTokens;
    // Requests that will find no free slot queue; past `maxWaiting` of them, 503.
    const queued = this.#waiting.length - Math.max(0, this.slots - this.#running.length);
    if (tooLong || queued >= this.maxWaiting) {
      seq.done = true;
      this.#stats.rejected++;
      const status = tooLong ? 400 : 503;
      this.#clock.at(now, () =>
        onDone({ status, promptTokens: req.promptTokens, completionTokens: 0, latencyMs: 0, queuedMs: 0, preemptions: 0 }),
      );
      return { cancel: () => {} };
    }
    this.#waiting.push(seq);
    this.#kick();
    return { cancel: () => this.#cancel(seq) };
  }

  /**
   * The load as the engine reports it. `waiting` counts the requests a step's admission left
   * waiting, not those that arrived since: vLLM makes its scheduler stats after each step
   * (`Scheduler.update_from_output` → `make_stats`), and a request that arrives during a step joins
   * the scheduler's queue only before the next one, so its gauge never shows a request on its way in.
   */
  metrics(): SimMetrics {
    let waiting = 0;
    for (const s of this.#waiting) if (s.passed || s.preemptions > 0) waiting++;
    return {
      waiting,
      running: this.#running.length,
      kvUsage: Number.isFinite(this.kvCapacityTokens) ? this.#used / this.kvCapacityTokens : 0,
      preemptions: this.#stats.preemptions,
    };
  }

  stats(): SimStats {
    return { ...this.#stats, ...this.metrics() };
  }

  /** Stops stepping and forgets all requests without answering them (server shutdown). */
  stop(): void {
    this.#step?.cancel();
    this.#step = undefined;
    for (const s of [...this.#waiting, ...this.#running]) s.done = true;
    this.#waiting.length = 0;
    this.#running = [];
    this.#used = 0;
  }

  #cancel(seq: Seq): void {
    if (seq.done) return;
    seq.done = true;
    this.#stats.cancelled++;
    const w = this.#waiting.indexOf(seq);
    if (w >= 0) this.#waiting.splice(w, 1);
    const r = this.#running.indexOf(seq);
    if (r >= 0) {
      this.#running.splice(r, 1);
      this.#used -= seq.held;
      seq.held = 0;
    }
  }

  #kick(): void {
    if (this.#step !== undefined) return;
    // Start on the next tick, so that requests arriving at the same instant share the first step.
    const now = this.#clock.now();
    this.#step = this.#clock.at(now, () => this.#startStep(now));
  }

  /** Plans one step that starts at `start`: make room, admit, and schedule its end. */
  #startStep(start: number): void {
    if (this.#running.length === 0 && this.#waiting.length === 0) {
      this.#step = undefined;
      return;
    }
    const cap = this.kvCapacityTokens;
    // Every running sequence writes one more token this step: preempt the youngest until it fits.
    while (this.#running.length > 0 && this.#used + this.#running.length > cap) this.#preemptYoungest();
    let prefill = 0;
    const reserve = Number.isFinite(cap) ? this.#watermark * cap : 0;
    while (this.#running.length < this.slots && this.#waiting.length > 0) {
      const s = this.#waiting[0] as Seq;
      const tokens = s.req.promptTokens + s.generated;
      // The running sequences' next tokens, this one's context and its next token must fit.
      if (this.#used + this.#running.length + tokens + 1 + reserve > cap && this.#running.length > 0) break;
      this.#waiting.shift();
      s.admittedAt ??= start;
      if (s.fresh) {
        prefill += tokens;
        if (s.preemptions > 0) this.#stats.recomputedTokens += tokens;
        s.fresh = false;
      }
      s.held = tokens;
      this.#used += tokens;
      this.#running.push(s);
    }
    for (const s of this.#waiting) s.passed = true;
    const sp = this.#speed;
    const batch = this.#running.length;
    const duration = sp.baseStepMs + sp.perSeqStepMs * batch + sp.prefillMsPerToken * prefill;
    const end = start + duration;
    this.#stats.steps++;
    this.#stats.busyMs += duration;
    this.#step = this.#clock.at(end, () => this.#endStep(end));
  }

  #preemptYoungest(): void {
    const s = this.#running.pop() as Seq;
    this.#used -= s.held;
    s.held = 0;
    s.fresh = true;
    s.preemptions++;
    this.#stats.preemptions++;
    this.#waiting.unshift(s);
  }

  #endStep(end: number): void {
    const finished: Seq[] = [];
    const still: Seq[] = [];
    for (const s of this.#running) {
      s.generated++;
      s.held++;
      this.#used++;
      if (s.generated >= s.req.outputTokens) finished.push(s);
      else still.push(s);
    }
    this.#running = still;
    for (const s of finished) {
      this.#used -= s.held;
      s.held = 0;
      s.done = true;
      this.#stats.completed++;
      this.#stats.completionTokens += s.generated;
      this.#stats.promptTokens += s.req.promptTokens;
    }
    // Answer first, so that a client answering synchronously is seen by the next step's admission.
    for (const s of finished) {
      s.onDone({
        status: 200,
        promptTokens: s.req.promptTokens,
        completionTokens: s.generated,
        latencyMs: end - s.submittedAt,
        queuedMs: (s.admittedAt ?? end) - s.submittedAt,
        preemptions: s.preemptions,
      });
    }
    this.#startStep(end);
  }
}
