import type { CheckResult, DeploymentTestReport } from '../deployment-tests/check-result';

/**
 * Renders a deployment test report as JUnit XML, the format that Jenkins, GitLab CI and GitHub
 * test reporters read. Each check group is a `<testsuite>` and each check a `<testcase>`, with a
 * `<failure>` for FAILED, an `<error>` for ERROR and a `<skipped>` for SKIPPED. The details go
 * into the element's message and into `<system-out>`. Times are in seconds.
 */
export function renderJunit(report: DeploymentTestReport): string {
  const groups = [...new Set(report.checks.map((check) => check.group))];
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="onevault deployment tests" tests="${report.summary.total}" failures="${report.summary.failed}" errors="${report.summary.errors}" skipped="${report.summary.skipped}" time="${seconds(report.summary.durationMs)}" timestamp="${report.startedAt.toISOString()}">`,
  ];

  for (const group of groups) {
    const checks = report.checks.filter((check) => check.group === group);
    const count = (status: CheckResult['status']): number => checks.filter((check) => check.status === status).length;
    const time = checks.reduce((sum, check) => sum + check.durationMs, 0);
    lines.push(
      `  <testsuite name="${escapeXml(group)}" tests="${checks.length}" failures="${count('FAILED')}" errors="${count('ERROR')}" skipped="${count('SKIPPED')}" time="${seconds(time)}" timestamp="${report.startedAt.toISOString()}">`,
      '    <properties>',
      `      <property name="database" value="${escapeXml(report.database)}"/>`,
      `      <property name="server_version" value="${escapeXml(report.serverVersion)}"/>`,
      '    </properties>',
    );
    for (const check of checks) lines.push(...testcaseLines(check));
    lines.push('  </testsuite>');
  }

  lines.push('</testsuites>');
  return `${lines.join('\n')}\n`;
}

function testcaseLines(check: CheckResult): string[] {
  const open = `    <testcase name="${escapeXml(check.name)}" classname="onevault.${escapeXml(check.group.replace(/ /g, '_'))}" time="${seconds(check.durationMs)}">`;
  const output = `      <system-out>${escapeXml(check.details)}</system-out>`;
  switch (check.status) {
    case 'PASSED':
      return [open, output, '    </testcase>'];
    case 'FAILED':
      return [open, `      <failure message="${escapeXml(check.details)}" type="FAILED">${escapeXml(`found: ${check.found}\nexpected: ${check.expected}`)}</failure>`, output, '    </testcase>'];
    case 'ERROR':
      return [open, `      <error message="${escapeXml(check.details)}" type="ERROR">${escapeXml(check.found)}</error>`, output, '    </testcase>'];
    case 'SKIPPED':
      return [open, `      <skipped message="${escapeXml(check.found)}"/>`, output, '    </testcase>'];
  }
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** Escapes text for XML content and attribute values, and drops the control characters XML 1.0 does not allow. */
export function escapeXml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}
