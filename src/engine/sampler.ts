/**
 * The CLI's look at an engine while a run goes (src/job/timeline.ts): GETs of the engine's server
 * root with short timeouts, and its `/metrics` as load (running and waiting requests, KV use).
 * Never throws: an engine that does not answer, or answers other than 200, gives undefined.
 */
import { request } from 'undici';
import { type EngineLoad, engineLoad } from './prometheus.ts';

/** How long one GET may take: a sample is due every second. */
const GET_TIMEOUT_MS = 800;

export class EngineSampler {
  readonly #root: string | undefined;
  readonly #headers: Record<string, string>;

  /** `root` is the engine's server root (`http://127.0.0.1:PORT`), when the CLI can reach it. */
  constructor(o: { root?: string | undefined; apiKey?: string | undefined }) {
    this.#root = o.root;
    this.#headers = o.apiKey !== undefined ? { authorization: `Bearer ${o.apiKey}` } : {};
  }

  /** The body of `GET <root><path>`; undefined without a root, on a failure or a status other than 200. */
  async get(path: string): Promise<string | undefined> {
    if (this.#root === undefined) return undefined;
    try {
      const res = await request(`${this.#root}${path}`, {
        headers: this.#headers,
        headersTimeout: GET_TIMEOUT_MS,
        bodyTimeout: GET_TIMEOUT_MS,
      });
      const text = await res.body.text();
      return res.statusCode === 200 ? text : undefined;
    } catch {
      return undefined;
    }
  }

  /** The engine's load from `/metrics`; undefined when it has none. */
  async load(): Promise<EngineLoad | undefined> {
    const metrics = await this.get('/metrics');
    return metrics !== undefined ? engineLoad(metrics) : undefined;
  }
}
