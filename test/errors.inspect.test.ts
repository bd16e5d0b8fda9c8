// A printed NsgroupsError shows the fields its failure has, and no `errno: undefined` for the
// ones it does not (console.log and util.inspect print an error's own properties).
import { inspect } from 'node:util';
import { NsgroupsError, run } from '../lib/index';

test('an error without errno, syscall, path or step has none of them as properties', () => {
  const e = new NsgroupsError('ERR_INVALID_ARG', 'options.x must be a number');
  expect(Object.keys(e).sort()).toEqual(['code', 'name']);
  expect(inspect(e)).not.toMatch(/undefined/);
  expect(inspect(e)).toMatch(/code: 'ERR_INVALID_ARG'/);
});

test('a system error prints the fields it has', () => {
  const e = new NsgroupsError('ERR_PERMISSION', 'mount failed', { errno: -1, syscall: 'mount', path: '/x' });
  expect(Object.keys(e).sort()).toEqual(['code', 'errno', 'name', 'path', 'syscall']);
  expect(inspect(e)).toMatch(/errno: -1,\n\s+syscall: 'mount',\n\s+path: '\/x'/);
  expect(inspect(e)).not.toMatch(/step|undefined/);
});

test('a command that never ran: its verdict and the step, nothing undefined', async () => {
  const e = await run('nsgroups-no-such-command').then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(NsgroupsError);
  expect((e as NsgroupsError).status).toBe('setup');
  expect(inspect(e)).not.toMatch(/: undefined/);
});
