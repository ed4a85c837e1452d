import type { RecordMetadata } from 'kafkajs';
import { unacknowledged } from './acks';

const ack = (topicName: string, partition: number, errorCode = 0): RecordMetadata => ({ topicName, partition, errorCode, baseOffset: '0' });

describe('unacknowledged', () => {
  it('is empty when every partition written to has an ack without error', () => {
    expect(unacknowledged([{ topic: 't', partition: 0 }, { topic: 't', partition: 2 }, { topic: 't', partition: 0 }], [ack('t', 0), ack('t', 2)])).toEqual([]);
  });

  it('names a partition the answer skipped (kafkajs retry to a broker that already answered)', () => {
    expect(unacknowledged([{ topic: 't', partition: 0 }, { topic: 't', partition: 1 }], [ack('t', 1)])).toEqual([{ topic: 't', partition: 0 }]);
  });

  it('names a partition acknowledged with an error code, and tells topics apart', () => {
    const sent = [{ topic: 'a', partition: 0 }, { topic: 'b', partition: 0 }];
    expect(unacknowledged(sent, [ack('a', 0, 6), ack('c', 0)])).toEqual(sent);
  });

  it('an empty answer acknowledges nothing', () => {
    expect(unacknowledged([{ topic: 't', partition: 3 }], [])).toEqual([{ topic: 't', partition: 3 }]);
  });
});
