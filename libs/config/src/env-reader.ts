/**
 * Reads typed values from an environment map and collects every problem, so a bad deployment
 * fails once, at boot, with each offending variable named.
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env = process.env) {}

  private raw(name: string): string | undefined {
    const value = this.env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  }

  string(name: string, fallback?: string, pattern?: RegExp): string {
    const value = this.raw(name) ?? fallback;
    if (value === undefined) {
      this.problems.push(`${name} is required`);
      return '';
    }
    if (pattern && !pattern.test(value))
      this.problems.push(`${name}=${value} does not match ${String(pattern)}`);
    return value;
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, fallback: number, range: { min?: number; max?: number } = {}): number {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    const value = Number(text);
    if (!Number.isInteger(value)) {
      this.problems.push(`${name}=${text} is not an integer`);
      return fallback;
    }
    if (range.min !== undefined && value < range.min)
      this.problems.push(`${name}=${text} is below ${range.min}`);
    if (range.max !== undefined && value > range.max)
      this.problems.push(`${name}=${text} is above ${range.max}`);
    return value;
  }

  bool(name: string, fallback: boolean): boolean {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (/^(1|true|yes|on)$/i.test(text)) return true;
    if (/^(0|false|no|off)$/i.test(text)) return false;
    this.problems.push(`${name}=${text} is not a boolean (true/false)`);
    return fallback;
  }

  oneOf<T extends string>(name: string, choices: readonly T[], fallback: T): T {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    if (!(choices as readonly string[]).includes(text)) {
      this.problems.push(`${name}=${text} is not one of ${choices.join(', ')}`);
      return fallback;
    }
    return text as T;
  }

  url(name: string, fallback: string, protocols: string[]): string {
    const text = this.raw(name) ?? fallback;
    try {
      const parsed = new URL(text);
      if (!protocols.includes(parsed.protocol)) {
        this.problems.push(`${name}=${text} must use ${protocols.join(' or ')}`);
      }
    } catch {
      this.problems.push(`${name}=${text} is not a URL`);
    }
    return text;
  }

  list(name: string, fallback: string[]): string[] {
    const text = this.raw(name);
    if (text === undefined) return fallback;
    const items = text
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (items.length === 0) this.problems.push(`${name} is an empty list`);
    return items;
  }

  /** Records a problem that involves several variables (each named in the text). */
  fail(problem: string): void {
    this.problems.push(problem);
  }

  /** Throws one ConfigError naming every invalid variable read so far. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError([...this.problems]);
  }
}
