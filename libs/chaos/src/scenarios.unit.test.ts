import { coordinatorPartition } from './scenarios';

describe('coordinatorPartition (Kafka: Utils.abs(groupId.hashCode()) % partitions)', () => {
  it("uses Java's String.hashCode", () => {
    // "hello".hashCode() = 99162322
    expect(coordinatorPartition('hello', 12)).toBe(99162322 % 12);
    expect(coordinatorPartition('hello', 50)).toBe(99162322 % 50);
  });

  it('maps a negative hash to its absolute value, Integer.MIN_VALUE to 0', () => {
    // "doubletap-aggregator".hashCode() is negative; "polygenelubricants".hashCode() = Integer.MIN_VALUE
    expect(coordinatorPartition('doubletap-aggregator', 12)).toBe(2103095740 % 12);
    expect(coordinatorPartition('polygenelubricants', 12)).toBe(0);
  });
});
