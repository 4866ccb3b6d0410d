export { runDeploymentTests, summarize, DEPLOYMENT_CHECK_GROUPS, type DeploymentTestOptions } from './run-deployment-tests';
export { CHECK_GROUPS, type CheckGroupName, type CheckResult, type CheckStatus, type DeploymentTestEvent, type DeploymentTestReport, type DeploymentTestSummary } from './check-result';
export { withScratchCopy, scratchNameFor, type ScratchCopy, type ScratchCopyOptions, type ScratchCopyOutcome } from './with-scratch-copy';
export { DEFAULT_PERFORMANCE_BOUND_MS, DEFAULT_PERFORMANCE_RUNS } from './performance';
export { MIN_SERVER_MAJOR, MAX_SERVER_MAJOR } from './prerequisites';
export { SYSTEM_OPERATIONS } from './system-operations';
