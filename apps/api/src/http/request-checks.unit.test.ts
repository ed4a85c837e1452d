import { checkRequest, malformedEscape, MAX_URL_LENGTH } from './request-checks';

const req = (url: string, headers: [string, string][] = [['Host', 'x']], httpVersion = '1.1') => ({
  url,
  httpVersion,
  rawHeaders: headers.flat(),
});

describe('malformedEscape', () => {
  it('accepts text without escapes and valid UTF-8 escapes', () => {
    for (const ok of ['', 'a,b', '%41', '%E2%98%83', 'a%2Cb%2c', '%F0%9F%98%80x', '+'])
      expect({ ok, bad: malformedEscape(ok) }).toEqual({ ok, bad: undefined });
  });

  it('names the first % that is not a %XX escape, and escape runs that are not UTF-8', () => {
    expect(malformedEscape('%ZZ')).toBe('"%ZZ" is not a %XX escape (% must be followed by two hex digits)');
    expect(malformedEscape('a%')).toBe('"%" is not a %XX escape (% must be followed by two hex digits)');
    expect(malformedEscape('%4')).toMatch(/^"%4" is not a %XX escape/);
    expect(malformedEscape('%E0%A4%A')).toBe('"%E0%A4" does not decode to UTF-8');
    expect(malformedEscape('ok%41%FF')).toBe('"%41%FF" does not decode to UTF-8');
    expect(malformedEscape('%C0%AF')).toBe('"%C0%AF" does not decode to UTF-8'); // overlong
    expect(malformedEscape('%ED%A0%80')).toBe('"%ED%A0%80" does not decode to UTF-8'); // a surrogate
  });
});

describe('checkRequest', () => {
  it('lets an ordinary request through', () => {
    expect(checkRequest(req('/v1/likes?posts=a,b%2Cc'))).toBeUndefined();
    expect(checkRequest(req('/health', [], '1.0'))).toBeUndefined(); // HTTP/1.0 needs no Host
    expect(checkRequest(req('/x'.repeat(MAX_URL_LENGTH / 2)))).toBeUndefined(); // exactly the limit
  });

  it('414 for a target over the limit, whatever else is wrong', () => {
    const p = checkRequest(req(`/${'%ZZ'.repeat(MAX_URL_LENGTH)}`, []));
    expect(p?.getStatus()).toBe(414);
    expect(p?.detail).toBe(
      `the request target is ${1 + 3 * MAX_URL_LENGTH} characters long; the limit is 8192`,
    );
  });

  it('400 for a repeated Authorization, Content-Type, Content-Length or Host (any case)', () => {
    const p = checkRequest(
      req('/x', [
        ['Host', 'x'],
        ['authorization', 'Bearer a'],
        ['AUTHORIZATION', 'Bearer b'],
      ]),
    );
    expect(p?.toProblem()).toMatchObject({
      status: 400,
      detail: 'the request has 2 Authorization headers; send exactly one',
    });
    expect(
      checkRequest(
        req('/x', [
          ['Host', 'x'],
          ['Host', 'y'],
        ]),
      )?.detail,
    ).toMatch(/2 Host headers/);
    expect(
      checkRequest(
        req('/x', [
          ['Host', 'x'],
          ['content-type', 'a/b'],
          ['content-type', 'c/d'],
          ['content-type', 'e/f'],
        ]),
      )?.detail,
    ).toMatch(/3 Content-Type headers/);
    expect(
      checkRequest(
        req('/x', [
          ['Host', 'x'],
          ['X-Other', '1'],
          ['X-Other', '2'],
        ]),
      ),
    ).toBeUndefined();
  });

  it('400 for an HTTP/1.1 request without Host', () => {
    expect(checkRequest(req('/health', []))?.toProblem()).toMatchObject({
      status: 400,
      type: 'https://doubletap.dev/problems/missing-host',
    });
  });

  it('400 for malformed percent-encoding in a query key or value, naming the parameter', () => {
    const p = checkRequest(req('/v1/likes?posts=%ZZ'));
    expect(p?.toProblem()).toMatchObject({
      status: 400,
      type: 'https://doubletap.dev/problems/malformed-query',
      detail:
        'the query string has malformed percent-encoding in "posts=%ZZ": "%ZZ" is not a %XX escape (% must be followed by two hex digits)',
    });
    expect(checkRequest(req('/v1/likes?a=1&p%E0sts=x'))?.detail).toMatch(
      /in "p%E0sts=x": "%E0" does not decode to UTF-8/,
    );
  });

  it('400 for malformed percent-encoding in the path', () => {
    expect(checkRequest(req('/v1/posts/%E0%A4%A/likes?posts=a'))?.toProblem()).toMatchObject({
      status: 400,
      type: 'https://doubletap.dev/problems/malformed-path',
      detail: 'the path has malformed percent-encoding: "%E0%A4" does not decode to UTF-8',
    });
    expect(checkRequest(req('/p/a%zz'))?.detail).toMatch(/"%zz" is not a %XX escape/);
  });
});
