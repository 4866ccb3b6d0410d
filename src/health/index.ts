export { checkHealth, DEFAULT_IDLE_IN_TRANSACTION_MS, DEFAULT_LOCK_WAIT_CRITICAL_MS, DEFAULT_LONG_RUNNING_QUERY_MS, type HealthOptions } from './check-health';
export type { BlockedSession, ConnectionUsage, HealthFinding, HealthReport, HealthStatus, IndexUsage, LastDeployment, SessionActivity } from './health-report';
