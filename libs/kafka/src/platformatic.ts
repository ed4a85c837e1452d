import type * as Platformatic from '@platformatic/kafka';

export type { Platformatic };

let loaded: typeof Platformatic | undefined;

/**
 * @platformatic/kafka, loaded on first use. The package is ECMAScript-module only: the compiled apps
 * (CommonJS) load it through Node's require(esm) (Node ≥ 20.19), but jest's CommonJS runtime cannot
 * on Node 20, so nothing may load it when @doubletap/kafka is imported; only a platformatic sink
 * that starts does. Its contract is tested on the built api (apps/api/test/kafka-clients.e2e.test.ts).
 */
export function platformatic(): typeof Platformatic {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  loaded ??= require('@platformatic/kafka') as typeof Platformatic;
  return loaded;
}
