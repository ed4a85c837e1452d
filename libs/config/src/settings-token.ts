/**
 * Injection token for the validated {@link Settings} in the Nest apps. Kept apart from any Nest
 * import: the aggregator and the projector load this library at start and have no use for Nest
 * (requiring @nestjs/common cost about 0.3 s of CPU at every start, ADR 0026).
 */
export const SETTINGS = Symbol('doubletap.settings');
