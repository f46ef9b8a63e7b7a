/** Scenarios: scripted rehearsals of a district with expected outcomes (see scenarios/README.md). */
export { runScenarioCommand } from './cli.ts';
export { formatIssue, loadScenario, loadScenarioFile, ScenarioError, type ScenarioIssue } from './load.ts';
export {
  type Check,
  type ExpectationResult,
  formatReport,
  type Report,
  RunnerError,
  type RunOptions,
  runScenario,
  type StepResult,
} from './runner.ts';
export type { CaseRef, DeviceSpec, Expectation, Scenario, Step } from './types.ts';
