import { durabilityConfig, topicSpecs, type TopicNames } from './topics';

const names: TopicNames = { events: 't.events', counts: 't.counts', deadLetter: 't.dlq', partitions: 6 };

describe('topicSpecs', () => {
  it('RF 1 (the single node): replication factor 1 and no durability configs', () => {
    const specs = topicSpecs(names);
    expect(specs.map((s) => s.topic)).toEqual(['t.events', 't.counts', 't.dlq']);
    for (const s of specs) {
      expect(s.replicationFactor).toBe(1);
      expect(s.config).not.toHaveProperty('min.insync.replicas');
      expect(s.config).not.toHaveProperty('unclean.leader.election.enable');
    }
    expect(specs[0].config).toEqual({
      'cleanup.policy': 'delete',
      'retention.ms': '-1',
      'retention.bytes': '-1',
    });
    expect(specs[1].config['cleanup.policy']).toBe('compact');
  });

  it('RF 3: every topic has min.insync.replicas=2 and unclean leader election off, beside its own configs', () => {
    const specs = topicSpecs(names, 3);
    expect(specs).toHaveLength(3);
    for (const s of specs) {
      expect(s.replicationFactor).toBe(3);
      expect(s.config['min.insync.replicas']).toBe('2');
      expect(s.config['unclean.leader.election.enable']).toBe('false');
    }
    expect(specs.map((s) => s.partitions)).toEqual([6, 6, 1]);
    expect(specs[0].config['retention.ms']).toBe('-1');
    expect(specs[1].config['cleanup.policy']).toBe('compact');
  });

  it('takes the factor from settings.topics (TOPIC_REPLICATION_FACTOR) unless given one', () => {
    expect(topicSpecs({ ...names, replicationFactor: 3 })[0].config['min.insync.replicas']).toBe('2');
    expect(topicSpecs({ ...names, replicationFactor: 3 }, 1)[0].replicationFactor).toBe(1);
  });

  it('RF 2 keeps writes available with one broker down (min ISR 1) and unclean election off; RF 5 still asks for 2', () => {
    expect(durabilityConfig(2)).toEqual({
      'min.insync.replicas': '1',
      'unclean.leader.election.enable': 'false',
    });
    expect(durabilityConfig(5)).toEqual({
      'min.insync.replicas': '2',
      'unclean.leader.election.enable': 'false',
    });
    expect(durabilityConfig(1)).toEqual({});
  });
});
