import { describe, expect, it } from 'vitest';
import { parseDemoArgs, UsageError } from '../../agent/simulator/demo-options';

const options = (argv: string[]) => {
  const parsed = parseDemoArgs(argv);
  if (parsed.help) throw new Error('expected options, got help');
  return parsed.options;
};

describe("the demo's command line", () => {
  it('keeps the host up 5 s after the rollout by default, so another terminal sees the end', () => {
    expect(options([]).lingerSeconds).toBe(5);
    expect(options(['--linger', '0']).lingerSeconds).toBe(0);
    expect(options(['--linger', '30', '--delay', '8'])).toMatchObject({ lingerSeconds: 30, delaySeconds: 8 });
  });

  it('refuses a linger that is not a number of seconds from 0 to 3600, naming the option', () => {
    for (const bad of ['x', '', '3601', '=-1']) {
      const argv = bad.startsWith('=') ? [`--linger${bad}`] : ['--linger', bad];
      expect(() => parseDemoArgs(argv), bad).toThrow(UsageError);
      expect(() => parseDemoArgs(argv), bad).toThrow(/--linger must be a number of seconds from 0 to 3600/);
    }
  });
});
