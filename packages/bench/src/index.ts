// Public surface of @app/bench: the harness (scenario interface, runner, reporting) and the
// scenario list, for tools that run benchmarks in-process rather than through `pnpm bench`.
export * from './harness.js';
export * from './stats.js';
export { machineInfo, type MachineInfo } from './machine.js';
export {
  markdownTable,
  writeResults,
  PLOT_FILE,
  type BenchResults,
  type ScenarioEntry,
} from './report.js';
export { lineChart, type ChartOptions } from './svg.js';
export { setupPinning } from './processes.js';
export { scenarios } from './scenarios/index.js';
