import type { Registry } from '@doubletap/observability';

/** One scrape of an app's /metrics (Prometheus text format). */
export async function scrapeMetrics(baseUrl: string): Promise<string> {
  return (await fetch(`${baseUrl}/metrics`)).text();
}

/**
 * The series of metric `name` in a scrape that carry `label`: label value → value (absent values are
 * absent from the map).
 */
export function labelledValues(text: string, name: string, label: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{(?:[^}]*,)?${label}="([^"]*)"[^}]*\\} (\\S+)$`, 'gm')))
    out.set(m[1], Number(m[2]));
  return out;
}

/**
 * A gauge labelled by partition, as an app's /metrics serves it (Prometheus text format): partition →
 * value. Absent partitions are absent from the map.
 */
export async function partitionGauge(baseUrl: string, name: string): Promise<Map<number, number>> {
  const byPartition = labelledValues(await scrapeMetrics(baseUrl), name, 'partition');
  return new Map([...byPartition].filter(([partition]) => /^\d+$/.test(partition)).map(([partition, value]) => [Number(partition), value]));
}

/** The value of metric `name` in an in-process `registry`, the series whose labels include `labels` (0 when there is none). */
export async function registryValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name} in the registry`);
  const found = (await metric.get()).values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return found?.value ?? 0;
}

/**
 * For each of `names`, the sum of every series of that metric in one scrape of an app's /metrics
 * (Prometheus text format; 0 when there is none), in the order given.
 */
export async function scrapedSums(baseUrl: string, names: readonly string[]): Promise<number[]> {
  return sumsIn(await scrapeMetrics(baseUrl), names);
}

/** For each of `names`, the sum of every series of that metric in a scrape (0 when there is none). */
export function sumsIn(text: string, names: readonly string[]): number[] {
  return names.map((name) => {
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
    return sum;
  });
}
