import { Batcher } from './batcher';

/** A destination that records every batch and answers when the test says so. */
function fakeSend() {
  const sent: {
    destination: string;
    queries: number[];
    answer: (a?: number[]) => void;
    fail: (e: Error) => void;
  }[] = [];
  const send = (destination: string, queries: readonly number[]) =>
    new Promise<number[]>((resolve, reject) => {
      sent.push({
        destination,
        queries: [...queries],
        answer: (a) => resolve(a ?? queries.map((q) => q * 10)),
        fail: reject,
      });
    });
  return { sent, send };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('Batcher (concurrent queries to one destination leave as one request)', () => {
  it('a lone query leaves alone, at once', async () => {
    const f = fakeSend();
    const b = new Batcher({ send: f.send });
    const a = b.ask('x', 1);
    await tick();
    expect(f.sent.map((s) => s.queries)).toEqual([[1]]);
    f.sent[0].answer();
    await expect(a).resolves.toBe(10);
  });

  it('queries asked in the same turn leave together, one request per destination, answers matched by position', async () => {
    const f = fakeSend();
    const b = new Batcher({ send: f.send });
    const answers = [b.ask('x', 1), b.ask('y', 2), b.ask('x', 3), b.ask('x', 4)];
    await tick();
    expect(f.sent.map((s) => [s.destination, s.queries])).toEqual([
      ['x', [1, 3, 4]],
      ['y', [2]],
    ]);
    f.sent.forEach((s) => s.answer());
    await expect(Promise.all(answers)).resolves.toEqual([10, 20, 30, 40]);
  });

  it('while maxInFlight requests are out, newer queries gather and leave as one when one comes back', async () => {
    const f = fakeSend();
    const b = new Batcher({ send: f.send, maxInFlight: 1 });
    const first = b.ask('x', 1);
    await tick();
    const later = [b.ask('x', 2), b.ask('x', 3)];
    await tick();
    const last = b.ask('x', 4);
    await tick();
    expect(f.sent.map((s) => s.queries)).toEqual([[1]]);
    f.sent[0].answer();
    await expect(first).resolves.toBe(10);
    await tick();
    expect(f.sent.map((s) => s.queries)).toEqual([[1], [2, 3, 4]]);
    f.sent[1].answer();
    await expect(Promise.all([...later, last])).resolves.toEqual([20, 30, 40]);
  });

  it('maxBatch splits a large gathering into several requests', async () => {
    const f = fakeSend();
    const b = new Batcher({ send: f.send, maxBatch: 2, maxInFlight: 8 });
    const answers = [1, 2, 3, 4, 5].map((q) => b.ask('x', q));
    await tick();
    expect(f.sent.map((s) => s.queries)).toEqual([[1, 2], [3, 4], [5]]);
    f.sent.forEach((s) => s.answer());
    await expect(Promise.all(answers)).resolves.toEqual([10, 20, 30, 40, 50]);
  });

  it('a failed request fails its own queries only; an answer count that does not match fails them too', async () => {
    const f = fakeSend();
    const b = new Batcher({ send: f.send, maxBatch: 2 });
    const [a1, a2, a3] = [b.ask('x', 1), b.ask('x', 2), b.ask('x', 3)];
    await tick();
    f.sent[0].fail(new Error('refused'));
    f.sent[1].answer();
    await expect(a1).rejects.toThrow('refused');
    await expect(a2).rejects.toThrow('refused');
    await expect(a3).resolves.toBe(30);
    const a4 = b.ask('x', 4);
    await tick();
    f.sent[2].answer([1, 2]);
    await expect(a4).rejects.toThrow('2 answers to 1 queries');
  });
});
