import { describe, expect, test } from 'vitest';
import { parseJUnit } from '../../src/index.js';

describe('parseJUnit', () => {
  test('reads pytest reports: passed, failed with message, errored, skipped', () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="1" skipped="1" tests="4" time="0.05">
<testcase classname="tests.test_calc" name="test_ok" time="0.001" />
<testcase classname="tests.test_calc" name="test_bad" time="0.002"><failure message="assert -1 == 3">def test_bad():
&gt;       assert add(1, 2) == 3
E       assert -1 == 3</failure></testcase>
<testcase classname="" name="tests.test_broken" time="0.000"><error message="collection failure">ImportError: No module named 'nope'</error></testcase>
<testcase classname="tests.test_calc" name="test_later" time="0.000"><skipped type="pytest.skip" message="later">skip</skipped></testcase>
</testsuite></testsuites>`;
    const { cases, error } = parseJUnit(xml);
    expect(error).toBeUndefined();
    expect(cases.map((testCase) => [testCase.name, testCase.status])).toEqual([
      ['test_ok', 'passed'],
      ['test_bad', 'failed'],
      ['tests.test_broken', 'errored'],
      ['test_later', 'skipped'],
    ]);
    expect(cases[1]?.message).toContain('assert -1 == 3');
    expect(cases[1]?.message).toContain('>       assert add(1, 2) == 3');
    expect(cases[2]?.message).toContain("No module named 'nope'");
    expect(cases[0]?.durationMs).toBe(1);
    expect(cases[0]?.suite).toBe('tests.test_calc');
  });

  test('reads node:test reports: testcases directly under testsuites, nested suites', () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<testsuites>
\t<testcase name="adds" time="0.000563" classname="test" file="/w/test/a.test.js"/>
\t<testsuite name="math" time="0.1" tests="1" failures="1">
\t\t<testcase name="subtracts" time="0.0005" classname="test"><failure type="testCodeFailure" message="Expected values to be strictly equal:\n\n1 !== 2\n">AssertionError [ERR_ASSERTION]: Expected values</failure></testcase>
\t</testsuite>
</testsuites>`;
    const { cases } = parseJUnit(xml);
    expect(cases).toHaveLength(2);
    expect(cases.find((testCase) => testCase.name === 'adds')).toMatchObject({ status: 'passed', file: '/w/test/a.test.js' });
    expect(cases.find((testCase) => testCase.name === 'subtracts')).toMatchObject({ status: 'failed', message: expect.stringContaining('1 !== 2') });
  });

  test('caps cases and message length', () => {
    const many = `<testsuite>${'<testcase name="t"><failure message="m">' + 'x'.repeat(10_000) + '</failure></testcase>'.repeat(1)}${'<testcase name="p"/>'.repeat(50)}</testsuite>`;
    const result = parseJUnit(many, { maxCases: 10, maxMessageChars: 100 });
    expect(result.cases).toHaveLength(10);
    expect(result.truncated).toBe(true);
    expect(result.cases[0]?.message?.length).toBeLessThanOrEqual(101);
  });

  test.each(['', 'not xml at all', '<testsuites><testcase name="x">', '<?xml version="1.0"?><html/>', '<<<>>>', '\u0000\u0001'])('never throws on %j', (input) => {
    expect(() => parseJUnit(input)).not.toThrow();
  });

  test('an entity bomb does not expand without bound', () => {
    const bomb = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;"><!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;"><!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;"><!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">]><testsuites><testcase name="&lol6;"/></testsuites>`;
    const result = parseJUnit(bomb);
    const size = JSON.stringify(result).length;
    expect(size).toBeLessThan(200_000);
    // Never expanded at all: the reference stays as written, and the report says why.
    expect(result.cases[0]?.name).toBe('&lol6;');
    expect(result.error).toMatch(/undefined entity/);
  });

  test('a fault does not lose the cases around it: a control character in a name, a report cut short', () => {
    const sloppy = parseJUnit('<testsuite><testcase name="a\u0001b"/><testcase name="c"><failure message="m">x</failure></testcase></testsuite>');
    expect(sloppy.cases.map((testCase) => [testCase.name, testCase.status])).toEqual([
      ['a\u0001b', 'passed'],
      ['c', 'failed'],
    ]);
    expect(sloppy.error).toMatch(/disallowed character/);
    const cut = parseJUnit('<testsuites><testsuite name="s"><testcase name="done"/><testcase name="half"><failure mess');
    expect(cut.cases.map((testCase) => testCase.name)).toEqual(['done']);
    expect(cut.error).toMatch(/unreadable JUnit XML/);
  });

  test('a detail keeps its own text only, bounded however large the element is', () => {
    const huge = 'y'.repeat(5_000_000);
    const { cases } = parseJUnit(`<testsuite><testcase name="t"><failure message="short"><![CDATA[${huge}]]><nested>not the message</nested></failure><system-out>printed</system-out></testcase></testsuite>`, {
      maxMessageChars: 100,
    });
    expect(cases[0]?.status).toBe('failed');
    expect(cases[0]?.message).toBe(`short\n${'y'.repeat(100)}`.slice(0, 100) + '…');
    expect(cases[0]?.message).not.toContain('not the message');
    expect(cases[0]?.message).not.toContain('printed');
  });

  test('nesting has no depth limit to overflow: 100,000 nested suites, and a case at the bottom', () => {
    const depth = 100_000;
    const { cases, error } = parseJUnit(`${'<testsuite name="s">'.repeat(depth)}<testcase name="deep" classname="c"/>${'</testsuite>'.repeat(depth)}`);
    expect(error).toBeUndefined();
    expect(cases).toEqual([{ name: 'deep', status: 'passed', suite: 'c' }]);
  });

  test('only test cases of suites count: one inside another element or another case is not a case', () => {
    const { cases } = parseJUnit('<testsuites><testsuite name="s"><properties><testcase name="ghost"/></properties><testcase name="real"><testcase name="inner"/></testcase></testsuite></testsuites>');
    expect(cases.map((testCase) => testCase.name)).toEqual(['real']);
  });
});

test('numeric character references are decoded (pytest writes newlines in attributes as &#10;)', () => {
  const { cases } = parseJUnit('<testsuite><testcase name="t"><failure message="line one&#10;line two &#x2713;">x</failure></testcase></testsuite>');
  expect(cases[0]?.message).toContain('line one\nline two ✓');
});
