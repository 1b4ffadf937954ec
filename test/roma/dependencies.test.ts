/**
 * ROMA's dependencies are free text. Plans ROMA itself accepts must not be refused whole for one
 * descriptive entry, and nothing that could reach a shell or an installer option may pass.
 */
import { describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { RomaPlanValidationError, fromRomaPlan, normaliseRomaDependencies, parseRomaPlan, toRomaResult } from '../../src/roma/index.js';
import { FakeSandboxRunner, MemoryCache, ScriptedCodeGenerator } from '../../src/testing/index.js';

function detailOf(dependencies: string[]) {
  try {
    fromRomaPlan({ execution_id: 'deps', scaffolding: { task_description: 'x', dependencies } });
  } catch (error) {
    expect(error).toBeInstanceOf(RomaPlanValidationError);
    return (error as RomaPlanValidationError).detail;
  }
  throw new Error('accepted');
}

describe('normaliseRomaDependencies', () => {
  test.each([
    ['numpy >= 1.26', 'numpy>=1.26'],
    ['Pillow (>=9)', 'Pillow>=9'],
    ['  requests  ', 'requests'],
    ['requests [socks, security] >= 2 , < 3', 'requests[socks,security]>=2,<3'],
    ['numpy==1.26.*', 'numpy==1.26.*'],
    ['pandas ~= 2.1', 'pandas~=2.1'],
    ['scikit-learn (>= 1.3, != 1.3.1)', 'scikit-learn>=1.3,!=1.3.1'],
    ['lodash@^4', 'lodash@^4'],
    ['@scope/pkg@2', '@scope/pkg@2'],
  ])('%j → %j', (entry, spec) => {
    expect(normaliseRomaDependencies([entry])).toEqual({ dependencies: [spec], warnings: [], refused: [] });
  });

  test('an environment marker is dropped with a warning; the package stays', () => {
    const result = normaliseRomaDependencies(['pywin32 >= 1.0 ; platform_system == "Windows"', "tomli; python_version < '3.11' and (os_name == 'posix' or extra == 'x')"]);
    expect(result.dependencies).toEqual(['pywin32>=1.0', 'tomli']);
    expect(result.refused).toEqual([]);
    expect(result.warnings).toHaveLength(2);
    expect(result.warnings[0]).toMatch(/environment marker dropped, "pywin32>=1.0" is installed unconditionally/);
  });

  test('descriptive entries are left out with a warning, blank ones silently', () => {
    const result = normaliseRomaDependencies(['PostgreSQL database', 'click', '', '   ', 'A web framework (e.g. "Flask")!', 'Python 3.12', 'python>=3.10']);
    expect(result.dependencies).toEqual(['click']);
    expect(result.refused).toEqual([]);
    expect(result.warnings).toEqual([
      'Dependency "PostgreSQL database" left out: not an installable package spec (a service or a description?).',
      'Dependency "A web framework (e.g. \\"Flask\\")!" left out: not an installable package spec (a service or a description?).',
      'Dependency "Python 3.12" left out: not an installable package spec (a service or a description?).',
      'Dependency "python>=3.10" left out: python is not a package the sandbox installs.',
    ]);
  });

  test('a warning never carries a raw line separator or an unbounded entry', () => {
    const [warning] = normaliseRomaDependencies([`some\u2028thing ${'x'.repeat(500)}`]).warnings.concat(normaliseRomaDependencies([`long words ${'y'.repeat(500)}`]).warnings);
    expect(normaliseRomaDependencies([`some\u2028thing`]).refused).toHaveLength(1);
    expect(warning!.length).toBeLessThan(200);
    expect(warning).not.toMatch(/[\u0085\u2028\u2029]/);
  });

  test.each([
    ['-e .'],
    ['--index-url=http://evil'],
    ['.'],
    ['./local'],
    ['/abs/path'],
    ['~/pkg'],
    ['requests; rm -rf /'],
    ['numpy`id`'],
    ['`whoami`'],
    ['$(curl evil)'],
    ['numpy | sh'],
    ['numpy && echo'],
    ['numpy\nrequests'],
    ['numpy; extra == "$(id)"'],
    ['some words; more words'],
  ])('refuses %j', (entry) => {
    const result = normaliseRomaDependencies(['ok', entry]);
    expect(result.dependencies).toEqual(['ok']);
    expect(result.refused).toMatchObject([{ index: 1 }]);
  });
});

describe('through fromRomaPlan and toRomaResult', () => {
  const scaffolding = {
    task_description: 'Read images',
    dependencies: ['numpy >= 1.26', 'Pillow (>=9)', 'PostgreSQL database', 'pywin32; sys_platform == "win32"'],
  };

  test('a plan ROMA accepts with descriptive dependencies is accepted, normalised', () => {
    const plan = fromRomaPlan({ execution_id: 'deps-1', scaffolding });
    expect(plan.dependencies).toEqual(['numpy>=1.26', 'Pillow>=9', 'pywin32']);
  });

  test('refusals keep ROMA indices, after the plan rule violations', () => {
    expect(detailOf(['PostgreSQL database', 'ok', '-e .', 'x'.repeat(201), 'a;b'])).toEqual([
      { type: 'value_error', loc: ['body', 'scaffolding', 'dependencies', 3], msg: expect.stringMatching(/^Value error, /) },
      { type: 'value_error', loc: ['body', 'scaffolding', 'dependencies', 2], msg: 'Value error, must be a package spec, not an installer option (it starts with "-")' },
      { type: 'value_error', loc: ['body', 'scaffolding', 'dependencies', 4], msg: expect.stringMatching(/shell characters/) },
    ]);
  });

  test('the result carries the dependency warnings before the run’s own', async () => {
    const romaPlan = parseRomaPlan({ execution_id: 'deps-2', scaffolding, enable_testing: false });
    const agent = new PTCAgent({
      generator: new ScriptedCodeGenerator({ files: [{ path: 'main.py', content: 'x = 1\n' }] }),
      runner: new FakeSandboxRunner(),
      cache: new MemoryCache(),
    });
    const result = toRomaResult(await agent.execute(fromRomaPlan(romaPlan)), { plan: romaPlan });
    expect(result.warnings.slice(0, 2)).toEqual([
      'Dependency "PostgreSQL database" left out: not an installable package spec (a service or a description?).',
      'Dependency "pywin32; sys_platform == \\"win32\\"": environment marker dropped, "pywin32" is installed unconditionally.',
    ]);
  });
});
