/** A named readiness check: resolves when the dependency is usable, throws (with why) when not. */
export type HealthCheck = () => Promise<void>;

export interface HealthReport {
  status: 'ok' | 'unavailable';
  checks: Record<string, { status: 'ok' | 'down'; error?: string; ms: number }>;
}

/** Collects readiness checks from the parts of a process and runs them together, each bounded. */
export class HealthRegistry {
  private readonly checks = new Map<string, HealthCheck>();

  register(name: string, check: HealthCheck): void {
    this.checks.set(name, check);
  }

  async report(timeoutMs = 1000): Promise<HealthReport> {
    const entries = await Promise.all(
      [...this.checks].map(async ([name, check]) => {
        const started = Date.now();
        try {
          await withTimeout(check(), timeoutMs, `${name} check timed out after ${timeoutMs}ms`);
          return [name, { status: 'ok' as const, ms: Date.now() - started }] as const;
        } catch (e) {
          const error = e instanceof Error ? e.message : String(e);
          return [name, { status: 'down' as const, error, ms: Date.now() - started }] as const;
        }
      }),
    );
    const checks: HealthReport['checks'] = {};
    for (const [name, result] of entries) checks[name] = result;
    const ok = entries.every(([, v]) => v.status === 'ok');
    return { status: ok ? 'ok' : 'unavailable', checks };
  }
}

export async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
