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
