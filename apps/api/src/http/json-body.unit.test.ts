import { parseJsonBody } from './json-body';
import type { ProblemException } from './problem';

function problem(text: string): ProblemException {
  try {
    parseJsonBody(text);
  } catch (e) {
    return e as ProblemException;
  }
  throw new Error(`parsed: ${text}`);
}

describe('parseJsonBody', () => {
  it('an empty or blank body is no body; JSON otherwise', () => {
    expect(parseJsonBody('')).toBeUndefined();
    expect(parseJsonBody(' \n')).toBeUndefined();
    expect(parseJsonBody('{"a":[1,null]}')).toEqual({ a: [1, null] });
    expect(parseJsonBody('null')).toBeNull();
    expect(parseJsonBody('\ufeff{}')).toEqual({});
  });

  it('400 with the parser reason for text that is not JSON', () => {
    const p = problem('{"oops');
    expect(p.getStatus()).toBe(400);
    expect(p.detail).toMatch(/^invalid request: the body is not valid JSON \(.+\)$/);
  });

  it('400 naming __proto__ and constructor.prototype keys, at any depth', () => {
    expect(problem('{"__proto__":{"x":1}}').detail).toBe(
      'invalid request: the JSON body has a "__proto__" key, which is refused',
    );
    expect(problem('[{"a":{"__proto__":1}}]').detail).toMatch(/"__proto__" key/);
    expect(problem('{"constructor":{"prototype":{"x":1}}}').detail).toMatch(/"constructor.prototype" key/);
    expect(parseJsonBody('{"constructor":1}')).toEqual({ constructor: 1 });
  });
});
