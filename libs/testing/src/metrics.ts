import type { Registry } from '@doubletap/observability';

/**
 * A gauge labelled by partition, as an app's /metrics serves it (Prometheus text format): partition →
 * value. Absent partitions are absent from the map.
 */
export async function partitionGauge(baseUrl: string, name: string): Promise<Map<number, number>> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const out = new Map<number, number>();
  for (const m of text.matchAll(new RegExp(`^${name}\\{partition="(\\d+)"[^}]*\\} (\\S+)$`, 'gm')))
    out.set(Number(m[1]), Number(m[2]));
  return out;
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
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  return names.map((name) => {
    let sum = 0;
    for (const m of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) sum += Number(m[1]);
    return sum;
  });
}
