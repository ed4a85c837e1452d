import { loadSettings } from '@doubletap/config';
import { EventCodec, readSchema, valueSubject } from '@doubletap/events';
import { stackEnv, uniqueName } from '@doubletap/testing';

describe('schema registry compatibility', () => {
  const settings = loadSettings(stackEnv());
  const topics = { events: uniqueName('compat-events'), counts: uniqueName('compat-counts') };
  const subject = valueSubject(topics.events);

  const register = (schema: object) =>
    fetch(`${settings.registry.url}/subjects/${subject}/versions`, {
      method: 'POST',
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json' },
      body: JSON.stringify({ schema: JSON.stringify(schema) }),
    });

  beforeAll(async () => {
    await new EventCodec(settings.registry.url, topics).init();
  });

  afterAll(async () => {
    for (const s of [subject, valueSubject(topics.counts)]) {
      await fetch(`${settings.registry.url}/subjects/${s}`, { method: 'DELETE' });
      await fetch(`${settings.registry.url}/subjects/${s}?permanent=true`, { method: 'DELETE' });
    }
  });

  it('sets FULL_TRANSITIVE compatibility on the subjects it registers', async () => {
    const res = await fetch(`${settings.registry.url}/config/${subject}`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { compatibilityLevel?: string; compatibility?: string };
    expect(body.compatibilityLevel ?? body.compatibility).toBe('FULL_TRANSITIVE');
  });

  it('rejects a new required field without a default', async () => {
    const schema = JSON.parse(readSchema('like-event.avsc')) as { fields: object[] };
    schema.fields.push({ name: 'deviceId', type: 'string' });
    const res = await register(schema);
    expect(res.status).toBe(409);
  });

  it('accepts a new optional field with a default', async () => {
    const schema = JSON.parse(readSchema('like-event.avsc')) as { fields: object[] };
    schema.fields.push({ name: 'client', type: ['null', 'string'], default: null });
    const res = await register(schema);
    expect(res.status).toBe(200);
    expect(((await res.json()) as { id: number }).id).toEqual(expect.any(Number));
  });
});

describe('schema registration by several processes at once', () => {
  it('all of them get the same ids for a new subject (no compatibility race)', async () => {
    const settings = loadSettings(stackEnv());
    const topics = { events: uniqueName('race-events'), counts: uniqueName('race-counts') };
    try {
      const results = await Promise.all(Array.from({ length: 6 }, () => new EventCodec(settings.registry.url, topics).init()));
      expect(new Set(results.map((r) => `${r.likeEventId}/${r.countChangedId}`)).size).toBe(1);
    } finally {
      for (const s of [valueSubject(topics.events), valueSubject(topics.counts)]) {
        await fetch(`${settings.registry.url}/subjects/${s}`, { method: 'DELETE' });
        await fetch(`${settings.registry.url}/subjects/${s}?permanent=true`, { method: 'DELETE' });
      }
    }
  });
});
