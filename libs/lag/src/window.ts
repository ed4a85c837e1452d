import type { Observation } from './status';

/** Keeps the last observations per (group, topic, partition), bounded by count and by age. */
export class ObservationWindows {
  private readonly windows = new Map<string, Observation[]>();

  constructor(
    private readonly maxObservations = 10,
    private readonly maxAgeMs = 10 * 60 * 1000,
  ) {}

  private static key(group: string, topic: string, partition: number): string {
    return `${group}\u0000${topic}\u0000${partition}`;
  }

  add(group: string, topic: string, partition: number, observation: Observation): Observation[] {
    const key = ObservationWindows.key(group, topic, partition);
    const list = this.windows.get(key) ?? [];
    list.push(observation);
    const oldest = observation.at - this.maxAgeMs;
    while (list.length > this.maxObservations || (list.length > 1 && list[0].at < oldest)) list.shift();
    this.windows.set(key, list);
    return list;
  }

  get(group: string, topic: string, partition: number): Observation[] {
    return this.windows.get(ObservationWindows.key(group, topic, partition)) ?? [];
  }
}
