/**
 * patches/kafkajs+2.2.4.patch (applied by patch-package on every npm install) replaces kafkajs's
 * quadratic per-partition grouping of a produce batch with a linear one (ADR 0014). These tests
 * prove the patch is in place and that the grouping keeps kafkajs's contract: every message in the
 * partition its partitioner chose, in the order given.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const group = require('kafkajs/src/producer/groupMessagesPerPartition') as (args: {
  topic: string;
  partitionMetadata: Array<{ partitionId: number }>;
  messages: Array<{ key: string; n: number }>;
  partitioner: (args: { message: { key: string; n: number } }) => number;
}) => Record<string, Array<{ key: string; n: number }>>;

describe('kafkajs produce grouping (patched)', () => {
  const partitionMetadata = [0, 1, 2, 3].map((partitionId) => ({ partitionId }));
  const partitioner = ({ message }: { message: { n: number } }) => (message.n * 7) % 4;

  it('is the linear version from patches/', () => {
    expect(group.toString()).not.toContain('[...current');
  });

  it('puts every message in its partition, in the order given', () => {
    const messages = Array.from({ length: 50_000 }, (_, n) => ({ key: `k${n}`, n }));
    const grouped = group({ topic: 't', partitionMetadata, messages, partitioner });
    expect(Object.keys(grouped).sort()).toEqual(['0', '1', '2', '3']);
    for (const [p, list] of Object.entries(grouped)) {
      const expected = messages.filter((m) => partitioner({ message: m }) === Number(p));
      expect(list).toEqual(expected);
    }
  });

  it('returns nothing for a topic without partition metadata', () => {
    expect(group({ topic: 't', partitionMetadata: [], messages: [{ key: 'a', n: 1 }], partitioner })).toEqual(
      {},
    );
  });
});

/**
 * The second hunk of the patch (ADR 0021): a record of a produce request is encoded into one exactly
 * sized buffer instead of a 512-byte Encoder per record and per header. It must write the same bytes
 * as upstream's encoder (kept in the patched module as `.upstream`) and decode with kafkajs's own
 * record decoder.
 */
type RecordInput = {
  offsetDelta?: number;
  timestampDelta?: number;
  key?: unknown;
  value?: unknown;
  headers?: Record<string, unknown>;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const encodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0') as ((r: RecordInput) => {
  buffer: Buffer;
}) & {
  upstream: (r: RecordInput) => { buffer: Buffer };
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const KafkaDecoder = require('kafkajs/src/protocol/decoder') as new (b: Buffer) => {
  readVarIntBytes(): Buffer;
};
// eslint-disable-next-line @typescript-eslint/no-require-imports
const decodeRecord = require('kafkajs/src/protocol/recordBatch/record/v0/decoder') as (
  decoder: unknown,
  batchContext: { firstOffset: string; firstTimestamp: string; magicByte: number },
) => { key: Buffer | null; value: Buffer | null; headers: Record<string, Buffer | Buffer[]>; offset: string };

describe('kafkajs record encoding (patched)', () => {
  it('is the patched encoder', () => {
    expect(typeof encodeRecord.upstream).toBe('function');
  });

  it('writes the bytes upstream writes, for every shape of record', () => {
    let seed = 7;
    const rnd = (n: number) => {
      seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
      return seed % n;
    };
    const bytes = (): unknown => {
      switch (rnd(6)) {
        case 0:
          return null;
        case 1:
          return undefined;
        case 2:
          return Buffer.alloc(rnd(300), rnd(256));
        case 3:
          return 'é'.repeat(rnd(100)); // multi-byte utf8
        case 4:
          return Buffer.alloc(20_000 + rnd(200_000), 1); // 3-byte length varints
        default:
          return `p${rnd(2000)}/u${rnd(1e6)}`;
      }
    };
    for (let i = 0; i < 3000; i++) {
      const record: RecordInput = {
        offsetDelta: rnd(3) === 0 ? rnd(200_000) : rnd(100),
        timestampDelta: [0, rnd(100), rnd(1e6), -rnd(1e6), 1e12 + rnd(1000)][rnd(5)], // the last: upstream's path
        key: bytes(),
        value: bytes(),
      };
      if (rnd(2))
        record.headers = {
          reason: 'x'.repeat(rnd(200)),
          'source-offset': String(rnd(1e9)),
          many: ['a', Buffer.from('b')],
        };
      const fast = encodeRecord(record).buffer;
      expect(fast.equals(encodeRecord.upstream(record).buffer)).toBe(true);
    }
  });

  it('decodes with kafkajs', () => {
    const encoded = encodeRecord({
      offsetDelta: 3,
      timestampDelta: 5,
      key: 'p1/u2',
      value: Buffer.from('v'),
      headers: { reason: 'r', many: ['a', 'b'] },
    }).buffer;
    const body = new KafkaDecoder(encoded).readVarIntBytes(); // the record's length prefix, as kafkajs's batch decoder reads it
    expect(body.length).toBe(encoded.length - 1);
    const decoded = decodeRecord(new KafkaDecoder(body), {
      firstOffset: '10',
      firstTimestamp: '1000',
      magicByte: 2,
    });
    expect(decoded.offset).toBe('13');
    expect(decoded.key?.toString()).toBe('p1/u2');
    expect(decoded.value?.toString()).toBe('v');
    expect(decoded.headers.reason.toString()).toBe('r');
    expect((decoded.headers.many as Buffer[]).map(String)).toEqual(['a', 'b']);
  });
});

/**
 * The third hunk (ADR 0021): a consumed record's timestamp and offset are summed as numbers when
 * they are safe integers (upstream: BigInt arithmetic per varint byte and per sum). The strings must
 * be the exact sums, also past 2^53 (the Long path).
 */
describe('kafkajs record decoding (patched)', () => {
  const decode = (
    record: RecordInput,
    batch: { firstOffset: string; firstTimestamp: string; timestampType?: number; maxTimestamp?: string },
  ) =>
    decodeRecord(new KafkaDecoder(new KafkaDecoder(encodeRecord.upstream(record).buffer).readVarIntBytes()), {
      magicByte: 2,
      ...batch,
    });

  it('is the patched decoder', () => {
    expect(decodeRecord.toString()).toContain('readSafeVarLong');
  });

  it('sums timestamps and offsets exactly, small or past 2^53', () => {
    const deltas = [
      0,
      1,
      63,
      64,
      127,
      128,
      8191,
      1_000_000,
      -1,
      -64,
      -65,
      -1_000_000,
      2 ** 40 + 3,
      -(2 ** 47) - 5,
      2 ** 48 + 1,
      2 ** 53 + 2,
      2 ** 62,
    ];
    const firsts = ['0', '1733212345678', '9007199254740990', '9223372036854775000', '-1'];
    for (const timestampDelta of deltas)
      for (const first of firsts)
        for (const offsetDelta of [0, 5, 300_000]) {
          const r = decode(
            { offsetDelta, timestampDelta, key: 'k', value: Buffer.from('v') },
            { firstOffset: first, firstTimestamp: first },
          );
          expect(r.offset).toBe(String(BigInt(first) + BigInt(offsetDelta)));
          expect((r as unknown as { timestamp: string }).timestamp).toBe(
            String(BigInt(first) + BigInt(timestampDelta)),
          );
        }
  });

  it('keeps the log-append time of the batch', () => {
    const r = decode(
      { timestampDelta: 5, key: 'k', value: null },
      { firstOffset: '1', firstTimestamp: '100', timestampType: 1, maxTimestamp: '777' },
    );
    expect((r as unknown as { timestamp: string }).timestamp).toBe('777');
  });
});
