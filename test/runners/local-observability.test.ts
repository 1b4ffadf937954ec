import { describe, expect, test } from 'vitest';
import { PTCAgent } from '../../src/index.js';
import { ScriptedCodeGenerator } from '../../src/testing/index.js';
import { FIXED, PLAN } from '../helpers.js';
import { quietRunner, SKIP_BWRAP } from './local-helpers.js';

describe('the local runner says how the tests were confined', () => {
  test("isolation 'none' (asked for): the bundle says none, with no jail warning", async () => {
    const { runner } = quietRunner({ isolation: 'none' });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false });
    const bundle = await agent.execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.sandbox?.isolation).toBe('none');
    // 'none' was asked for: no warning about a missing jail.
    expect(bundle.warnings.some((warning) => warning.includes('WITHOUT a filesystem/network jail'))).toBe(false);
  }, 60_000);

  test.skipIf(SKIP_BWRAP)(`isolation 'bwrap': the bundle says bwrap${SKIP_BWRAP ? ' (SKIPPED: bwrap is not usable here)' : ''}`, async () => {
    const { runner } = quietRunner({ isolation: 'bwrap' });
    const bundle = await new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false }).execute(PLAN);
    expect(bundle.status).toBe('success');
    expect(bundle.sandbox?.isolation).toBe('bwrap');
  }, 60_000);

  test("'auto' where bwrap cannot work: every run's bundle and warning events say so", async () => {
    // A bwrap path that does not exist stands for a machine without bubblewrap.
    const { runner, warnings } = quietRunner({ isolation: 'auto', bwrapPath: '/nonexistent/bwrap' });
    const agent = new PTCAgent({ generator: new ScriptedCodeGenerator({ files: FIXED }), runner, cache: false });
    const codes: string[] = [];
    agent.on('warning', (event) => codes.push(event.code));
    const first = await agent.execute(PLAN);
    const second = await agent.execute(PLAN);
    for (const bundle of [first, second]) {
      expect(bundle.sandbox?.isolation).toBe('none');
      expect(bundle.warnings.some((warning) => warning.includes('WITHOUT a filesystem/network jail'))).toBe(true);
    }
    expect(codes.filter((code) => code === 'ISOLATION_NONE')).toHaveLength(2);
    // The process-level warning is still given, once.
    expect(warnings.filter((warning) => warning.includes('bwrap'))).toHaveLength(1);
  }, 60_000);
});
