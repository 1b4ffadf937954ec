export interface JUnitCaseInput {
  name: string;
  status?: 'passed' | 'failed' | 'skipped' | 'errored';
  message?: string;
  suite?: string;
  file?: string;
  durationMs?: number;
}

const escapeXml = (text: string) =>
  text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** Writes JUnit XML as pytest does, for fakes and tests. */
export function junitXml(cases: readonly JUnitCaseInput[]): string {
  const body = cases
    .map((testCase) => {
      const attributes = [
        `name="${escapeXml(testCase.name)}"`,
        testCase.suite ? `classname="${escapeXml(testCase.suite)}"` : '',
        testCase.file ? `file="${escapeXml(testCase.file)}"` : '',
        `time="${((testCase.durationMs ?? 1) / 1000).toFixed(3)}"`,
      ]
        .filter(Boolean)
        .join(' ');
      const message = escapeXml(testCase.message ?? '');
      switch (testCase.status ?? 'passed') {
        case 'failed':
          return `<testcase ${attributes}><failure message="${message}">${message}</failure></testcase>`;
        case 'errored':
          return `<testcase ${attributes}><error message="${message}">${message}</error></testcase>`;
        case 'skipped':
          return `<testcase ${attributes}><skipped message="${message}"/></testcase>`;
        default:
          return `<testcase ${attributes}/>`;
      }
    })
    .join('');
  return `<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="fake" tests="${cases.length}">${body}</testsuite></testsuites>`;
}
