import { loadSettings } from '@doubletap/config';
import { EventCodec, uuidv7, valueSubject, type CountChanged, type LikeEvent } from '@doubletap/events';
import { stackEnv, uniqueName } from '@doubletap/testing';

/** The fast (synchronous, cached avsc Type) encoder against the registry library's own encoder. */
describe('EventCodec fast encoder', () => {
  const settings = loadSettings(stackEnv());
  const topics = { events: uniqueName('codec-events'), counts: uniqueName('codec-counts') };
  const codec = new EventCodec(settings.registry.url, topics);
  // a second codec that knows nothing but the registry: decoding goes by the schema id in the bytes
  const reader = new EventCodec(settings.registry.url, topics);
  let ids: { likeEventId: number; countChangedId: number };

  beforeAll(async () => {
    ids = await codec.init();
  });
  afterAll(async () => {
    for (const s of [valueSubject(topics.events), valueSubject(topics.counts)]) {
      await fetch(`${settings.registry.url}/subjects/${s}`, { method: 'DELETE' });
      await fetch(`${settings.registry.url}/subjects/${s}?permanent=true`, { method: 'DELETE' });
    }
  });

  const id64 = 'A-z_0'.repeat(13).slice(0, 64);
  const likes: LikeEvent[] = [
    { eventId: uuidv7(), postId: 'p', userId: 'u', action: 'LIKE', occurredAt: 0 },
    { eventId: uuidv7(), postId: id64, userId: id64, action: 'UNLIKE', occurredAt: Date.now() },
    ...Array.from({ length: 200 }, (_, i): LikeEvent => ({
      eventId: uuidv7(),
      postId: `post_${i * 7919}`,
      userId: `user-${i}`.padEnd(1 + (i % 64), 'x'),
      action: i % 3 === 0 ? 'UNLIKE' : 'LIKE',
      occurredAt: Date.now() - i * 1_000_003,
    })),
  ];

  it('writes exactly the bytes of the registry library (magic 0, registry schema id, Avro body)', async () => {
    for (const e of likes) {
      const fast = codec.encodeLikeNow(e)!;
      expect(fast).toBeInstanceOf(Buffer);
      expect(fast[0]).toBe(0);
      expect(fast.readInt32BE(1)).toBe(ids.likeEventId);
      expect(fast.equals(await codec.slowEncode(ids.likeEventId, e))).toBe(true);
      expect((await codec.encodeLike(e)).equals(fast)).toBe(true);
    }
  });

  it('decodes through the registry to the same event', async () => {
    for (const e of likes) expect(await reader.decodeLike(codec.encodeLikeNow(e)!)).toEqual(e);
  });

  it('encodes CountChanged the same way', async () => {
    const changes: CountChanged[] = [
      { postId: 'p', partition: 0, count: 0, sourceOffset: 0 },
      { postId: id64, partition: 11, count: 2 ** 40, sourceOffset: 2 ** 50 + 1 },
    ];
    for (const c of changes) {
      const fast = await codec.encodeCount(c);
      expect(fast.readInt32BE(1)).toBe(ids.countChangedId);
      expect(fast.equals(await codec.slowEncode(ids.countChangedId, c))).toBe(true);
      expect(await reader.decodeCount(fast)).toEqual(c);
    }
  });

  it('leaves an invalid value to the library, whose validation error names the field', async () => {
    const bad = { ...likes[0], action: 'LOVE' } as unknown as LikeEvent;
    expect(codec.encodeLikeNow(bad)).toBeUndefined();
    const err = await codec.encodeLike(bad).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ConfluentSchemaRegistryValidationError', paths: [['action']] });
    const noTime = { ...likes[0], occurredAt: 1.5 };
    expect(codec.encodeLikeNow(noTime)).toBeUndefined();
  });

  it('falls back to the library for a value larger than its scratch buffer, with the same bytes', async () => {
    const huge = { ...likes[0], postId: 'x'.repeat(100_000) };
    expect(codec.encodeLikeNow(huge)).toBeUndefined();
    const bytes = await codec.encodeLike(huge);
    expect(bytes.equals(await codec.slowEncode(ids.likeEventId, huge))).toBe(true);
    // and the scratch buffer is still good afterwards
    expect(codec.encodeLikeNow(likes[1])!.equals(await codec.slowEncode(ids.likeEventId, likes[1]))).toBe(
      true,
    );
  });

  it('is not ready, and refuses to encode, before init()', async () => {
    const fresh = new EventCodec(settings.registry.url, topics);
    expect(fresh.ready).toBe(false);
    expect(() => fresh.encodeLikeNow(likes[0])).toThrow(/init\(\)/);
    await expect(fresh.encodeLike(likes[0])).rejects.toThrow(/init\(\)/);
  });
});
