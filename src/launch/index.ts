/** Local engine processes for a run: start, health-wait, supervise/restart, stop; setup's cache paths. */
export { startEngine, LocalEngine, stderrLogger } from './engine.ts';
export type { StartEngineOptions, EngineExit, LocalEngineEvents, LaunchLogger, Sleep } from './engine.ts';
export { engineArgv, validateCommandOptions, LAUNCH_KINDS } from './command.ts';
export type { EngineCommandOptions, LaunchKind } from './command.ts';
export { cacheDir, llamaServerPath, resolveModel, findOnPath, LLAMA_SERVER_VERSION, DEMO_MODELS } from './paths.ts';
export type { ResolveModelOptions } from './paths.ts';
export { freePort } from './port.ts';
export { probeHealth, logTail } from './health.ts';
export type { ProbeResult } from './health.ts';
