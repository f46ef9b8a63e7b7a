/** Scenarios: scripted rehearsals of a district with expected outcomes (see scenarios/README.md). */

export type { RunOptions } from './checks.ts';
export { runScenarioCommand } from './cli.ts';
export { formatIssue, ScenarioError, type ScenarioIssue } from './issues.ts';
export { loadScenario, loadScenarioFile } from './parse.ts';
export {
  type Check,
  type ExpectationResult,
  formatReport,
  type Report,
  type StepResult,
} from './report.ts';
export { RunnerError, runScenario } from './runner.ts';
export type { CaseRef, DeviceSpec, Expectation, Scenario, Step } from './types.ts';
