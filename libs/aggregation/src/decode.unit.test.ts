import { DecodeBlockedError, RecordDecoder } from './decode';
import { encode, FakeCodec, likeEvent, records } from './testing/fakes';
import { homePartition } from '@doubletap/likes';

const PARTITIONS = 4;
/** an event whose (post, user) lives on partition p */
function eventOn(p: number, post = 'post') {
  for (let i = 0; ; i++) if (homePartition(post, `u${i}`, PARTITIONS) === p) return likeEvent(post, `u${i}`, 'LIKE');
}

describe('RecordDecoder', () => {
  it('decodes a batch with one registry round for its unknown schema ids, then without promises per record', async () => {
    const codec = new FakeCodec();
    const decoder = new RecordDecoder(codec, 1, PARTITIONS);
    const events = [eventOn(1), eventOn(1, 'other')];
    const out = await decoder.decode(records(1, 0, events));
    expect(out.events).toEqual(events);
    expect(out.dead).toEqual([]);
    expect(codec.prefetches).toBe(1);
    await decoder.decode(records(1, 2, events));
    expect(codec.prefetches).toBe(1); // cached
  });

  it('dead-letters poison bytes with their reason and keeps the valid records in order', async () => {
    const codec = new FakeCodec();
    const decoder = new RecordDecoder(codec, 0, PARTITIONS);
    const good = eventOn(0);
    const out = await decoder.decode(
      records(0, 10, [
        { key: 'a/b', value: Buffer.from('not the wire format') },
        { key: 'a/b', value: null },
        { key: 'a/b', value: Buffer.concat([encode(1, {}).subarray(0, 5), Buffer.from('{broken')]) },
        { key: 'a/b', value: encode(1, { ...good, eventId: 'not-a-uuid-v7' }) },
        good,
      ]),
    );
    expect(out.events).toEqual([good]);
    expect(out.dead.map((d) => [d.record.offset, d.reason])).toEqual([
      [10, 'undecodable'],
      [11, 'undecodable'],
      [12, 'undecodable'],
      [13, 'invalid'],
    ]);
  });

  it("dead-letters a valid event whose key or home partition is not this partition's", async () => {
    const codec = new FakeCodec();
    const decoder = new RecordDecoder(codec, 2, PARTITIONS);
    const elsewhere = eventOn(3);
    const mine = eventOn(2);
    const out = await decoder.decode([
      ...records(2, 0, [elsewhere]),
      { ...records(2, 1, [mine])[0], key: 'wrong/key' },
    ]);
    expect(out.events).toEqual([]);
    expect(out.dead.map((d) => d.reason)).toEqual(['wrong-partition', 'wrong-partition']);
    expect(out.dead[0].detail).toMatch(/belongs to partition 3 of 4, not 2/);
    expect(out.dead[1].detail).toMatch(/is not the event's key/);
  });

  it('a registry that cannot answer blocks the batch (retry later), it never dead-letters', async () => {
    const codec = new FakeCodec();
    codec.registryDown = true;
    const decoder = new RecordDecoder(codec, 1, PARTITIONS);
    await expect(decoder.decode(records(1, 0, [eventOn(1)]))).rejects.toBeInstanceOf(DecodeBlockedError);
    codec.registryDown = false;
    expect((await decoder.decode(records(1, 0, [eventOn(1)]))).events).toHaveLength(1);
  });
});
