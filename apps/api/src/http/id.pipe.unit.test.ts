import type { ArgumentMetadata } from '@nestjs/common';
import { ProblemException } from './problem';
import { checkId, IdPipe } from './id.pipe';

const param = (data: string): ArgumentMetadata => ({ type: 'param', data });
const query = (data: string): ArgumentMetadata => ({ type: 'query', data });

function refusal(run: () => unknown): { status: number; slug: string; detail: string } {
  try {
    run();
  } catch (e) {
    if (e instanceof ProblemException) return { status: e.getStatus(), slug: e.slug, detail: e.detail };
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('IdPipe', () => {
  const pipe = new IdPipe();

  it('passes valid ids through unchanged', () => {
    for (const id of ['a', 'post_1', 'A-b_9', 'x'.repeat(64)])
      expect(pipe.transform(id, param('postId'))).toBe(id);
  });

  it('refuses anything else with a 400 invalid-id naming the parameter as the client sent it', () => {
    expect(refusal(() => pipe.transform('bad!id', param('postId')))).toEqual({
      status: 400,
      slug: 'invalid-id',
      detail: 'postId "bad!id" does not match /^[A-Za-z0-9_-]{1,64}$/',
    });
    expect(refusal(() => pipe.transform('x'.repeat(65), param('postId'))).detail).toMatch(
      /^postId "x{65}" does not/,
    );
    expect(refusal(() => pipe.transform('', query('user'))).detail).toBe(
      'user "" does not match /^[A-Za-z0-9_-]{1,64}$/',
    );
    // a repeated query parameter arrives as an array
    expect(refusal(() => pipe.transform(['a', 'b'], query('post'))).detail).toMatch(
      /^post \["a","b"\] does not match/,
    );
  });

  it('an absent optional query parameter stays absent; an absent route parameter is refused', () => {
    expect(pipe.transform(undefined, query('user'))).toBeUndefined();
    expect(refusal(() => pipe.transform(undefined, param('postId'))).status).toBe(400);
  });

  it('checkId is the same rule for ids in a list', () => {
    expect(checkId('post id', 'ok')).toBe('ok');
    expect(refusal(() => checkId('post id', 'bad id')).detail).toBe(
      'post id "bad id" does not match /^[A-Za-z0-9_-]{1,64}$/',
    );
  });
});
