import { ProblemException } from './problem';

/**
 * The api's JSON body parser: an empty body is no body (even with content-type application/json);
 * otherwise JSON.parse, with its reason in the 400. Keys that would reach an object's prototype
 * (__proto__, constructor.prototype) are refused by name, as Fastify's parser would, but with a
 * detail that says so instead of "not valid JSON".
 */
export function parseJsonBody(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    // a leading byte order mark may be ignored (RFC 8259, section 8.1), as Fastify's parser did
    return JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text, refusePrototypeKeys);
  } catch (e) {
    if (e instanceof ProblemException) throw e;
    throw new ProblemException(
      400,
      'malformed-json',
      `invalid request: the body is not valid JSON (${e instanceof Error ? e.message : String(e)})`,
    );
  }
}

function refusePrototypeKeys(key: string, value: unknown): unknown {
  if (
    key === '__proto__' ||
    (key === 'constructor' && typeof value === 'object' && value !== null && 'prototype' in value)
  )
    throw new ProblemException(
      400,
      'forbidden-json-key',
      `invalid request: the JSON body has a ${key === '__proto__' ? '"__proto__"' : '"constructor.prototype"'} key, which is refused`,
    );
  return value;
}
