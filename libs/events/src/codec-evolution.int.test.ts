import { Type } from 'avsc';
import { loadSettings } from '@doubletap/config';
import { EventCodec, readSchema, uuidv7, valueSubject, type LikeEvent } from '@doubletap/events';
import { stackEnv, uniqueName } from '@doubletap/testing';

/**
 * Schema evolution under FULL_TRANSITIVE on the real registry (docs/adr/0006-schema-evolution.md):
 * what a team may change is accepted and decodes through our fixed v1 reader; what would break an
 * old reader or a new one is refused by the registry.
 */
describe('schema evolution (FULL_TRANSITIVE, fixed reader schema)', () => {
  const settings = loadSettings(stackEnv());
  const registry = settings.registry.url;
  const created: string[] = [];
  type AvroRecord = {
    name: string;
    namespace: string;
    doc?: string;
    fields: Array<{ name: string; [k: string]: unknown }>;
  };
  const v1 = (): AvroRecord => JSON.parse(readSchema('like-event.avsc')) as AvroRecord;

  const register = async (subject: string, schema: object) => {
    const res = await fetch(`${registry}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(schema) }),
    });
    const body = (await res.json()) as { id?: number; message?: string };
    return { status: res.status, id: body.id, message: body.message };
  };
  const level = async (subject: string) => {
    const body = (await (await fetch(`${registry}/config/${subject}`)).json()) as {
      compatibilityLevel?: string;
    };
    return body.compatibilityLevel;
  };
  const freshTopics = () => {
    const topics = { events: uniqueName('evolve-events'), counts: uniqueName('evolve-counts') };
    created.push(valueSubject(topics.events), valueSubject(topics.counts));
    return topics;
  };

  afterAll(async () => {
    for (const s of created) {
      await fetch(`${registry}/subjects/${s}`, { method: 'DELETE' });
      await fetch(`${registry}/subjects/${s}?permanent=true`, { method: 'DELETE' });
      await fetch(`${registry}/config/${s}`, { method: 'DELETE' });
    }
  });

  it('new subjects are FULL_TRANSITIVE; an added field with a default is accepted and v2 records decode through the v1 reader', async () => {
    const topics = freshTopics();
    const subject = valueSubject(topics.events);
    const writer = new EventCodec(registry, topics);
    const ids = await writer.init();
    expect(ids.compatibility).toEqual({ events: 'FULL_TRANSITIVE', counts: 'FULL_TRANSITIVE' });
    expect(await level(subject)).toBe('FULL_TRANSITIVE');
    expect(await level(valueSubject(topics.counts))).toBe('FULL_TRANSITIVE');

    const v2 = v1();
    v2.fields.push({
      name: 'client',
      type: ['null', 'string'],
      default: null,
      doc: 'the app that sent the tap',
    });
    const added = await register(subject, v2);
    expect(added.status).toBe(200);
    expect(added.id).not.toBe(ids.likeEventId);

    // a consumer still on v1: its reader is schemas/like-event.avsc
    const reader = new EventCodec(registry, topics);
    await reader.init();
    const v2Type = Type.forSchema(v2 as Parameters<typeof Type.forSchema>[0]);
    const events: LikeEvent[] = Array.from({ length: 50 }, (_, i) => ({
      eventId: uuidv7(),
      postId: `post-${i}`,
      userId: `user-${i}`,
      action: i % 2 ? 'UNLIKE' : 'LIKE',
      occurredAt: Date.now() - i,
    }));
    const header = Buffer.alloc(5);
    header.writeInt32BE(added.id!, 1);
    const records = events.map((e, i) =>
      Buffer.concat([header, v2Type.toBuffer({ ...e, client: i % 3 ? `app-${i}` : null })]),
    );
    expect(reader.decodeLikeSync(records[0])).toBeUndefined(); // v2 not fetched yet
    await reader.prefetch([added.id!]);
    for (const [i, r] of records.entries()) {
      expect(reader.decodeLikeSync(r)).toEqual(events[i]);
      expect(await reader.decodeLike(r)).toEqual(events[i]);
    }
    // and a v1 record still decodes for everyone
    expect(await reader.decodeLike(writer.encodeLikeNow(events[0])!)).toEqual(events[0]);

    // v3 drops the field again: removing a field that HAS a default is allowed
    const v3 = { ...v1(), doc: 'v3: client removed' };
    expect((await register(subject, v3)).status).toBe(200);
  });

  it('refuses what would break a reader: removing a field without a default, adding one without a default', async () => {
    const topics = freshTopics();
    const subject = valueSubject(topics.events);
    await new EventCodec(registry, topics).init();

    const removed = v1();
    removed.fields = removed.fields.filter((f) => f.name !== 'occurredAt');
    const refused = await register(subject, removed);
    expect(refused.status).toBe(409); // old readers could not read the new data
    expect(refused.message).toMatch(/incompatib/i);

    const required = v1();
    required.fields.push({ name: 'deviceId', type: 'string' });
    expect((await register(subject, required)).status).toBe(409); // new readers could not read the old data
  });

  it('the setup path turns an existing BACKWARD subject into FULL_TRANSITIVE, after which a removal is refused', async () => {
    const topics = freshTopics();
    const subject = valueSubject(topics.events);
    // a subject as an older version of doubletap left it: BACKWARD, which accepts a removal
    expect((await register(subject, v1())).status).toBe(200);
    const put = await fetch(`${registry}/config/${subject}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ compatibility: 'BACKWARD' }),
    });
    expect(put.status).toBe(200);

    const codec = new EventCodec(registry, topics);
    const ids = await codec.init();
    expect(ids.compatibility.events).toBe('BACKWARD'); // init() leaves an existing subject's level alone
    expect(await codec.enforceCompatibility()).toEqual([
      { subject, compatibility: 'FULL_TRANSITIVE' },
      { subject: valueSubject(topics.counts), compatibility: 'FULL_TRANSITIVE' },
    ]);
    expect(await level(subject)).toBe('FULL_TRANSITIVE');

    const removed = v1();
    removed.fields = removed.fields.filter((f) => f.name !== 'userId');
    expect((await register(subject, removed)).status).toBe(409);
    // and it is idempotent
    expect((await codec.enforceCompatibility())[0]).toEqual({ subject, compatibility: 'FULL_TRANSITIVE' });
  });
});
