export {
  loadSuite,
  parseSuite,
  selectProblems,
  toGenericJsonl,
  toGenericLine,
  humanEvalTestFile,
  GenericProblemSchema,
  SuiteFormatError,
  DEFAULT_SOLUTION_PATHS,
  DEFAULT_TEST_PATHS,
  type EvalProblem,
  type GenericProblem,
  type ProblemSelection,
  type Suite,
  type SuiteFormat,
  type SuiteLimits,
} from './suite.js';
export { problemToPlan, problemIdOf, EVAL_MODES, EVAL_METADATA_KEY, type EvalMode, type PlanSettings } from './problem-plan.js';
export { OfflineCodeGenerator, OFFLINE_GENERATORS, type OfflineGeneratorKind } from './offline-generators.js';
export { runHeldOutTest, type HeldOutRunOptions, type HeldOutResult } from './held-out.js';
export { runEval, evaluateProblem, EvalResumeError, type EvalOptions, type EvalBudget, type EvalProgress, type ProblemContext } from './runner.js';
export {
  summarize,
  readReport,
  writeReport,
  renderMarkdown,
  headlineFigures,
  EvalReportSchema,
  EvalRowSchema,
  EvalSummarySchema,
  EvalConfigSchema,
  EVAL_REPORT_FORMAT,
  type EvalReport,
  type EvalRow,
  type EvalSummary,
  type EvalConfig,
} from './report.js';
export { ProgressLine } from './progress.js';
