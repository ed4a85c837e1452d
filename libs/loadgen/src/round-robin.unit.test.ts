import { RoundRobinClient, type RequestSink } from './round-robin';

class FakeSink implements RequestSink<number> {
  readonly got: number[] = [];
  closed = false;
  constructor(readonly base: URL) {}
  get inFlight(): number {
    return this.got.length;
  }
  send(_request: string, ctx: number): void {
    this.got.push(ctx);
  }
  close(): void {
    this.closed = true;
  }
}

describe('RoundRobinClient', () => {
  const bases = ['http://127.0.0.1:1', 'http://127.0.0.1:2', 'http://127.0.0.1:3'].map((u) => new URL(u));

  it('sends request i to target i mod n, sums what is in flight and closes every target', () => {
    const sinks: FakeSink[] = [];
    const rr = new RoundRobinClient<number>(
      bases,
      2,
      1000,
      () => undefined,
      (b) => {
        const s = new FakeSink(b);
        sinks.push(s);
        return s;
      },
    );
    for (let i = 0; i < 7; i++) rr.send('GET / HTTP/1.1\r\n\r\n', i);
    expect(rr.size).toBe(3);
    expect(sinks.map((s) => s.base.port)).toEqual(['1', '2', '3']);
    expect(sinks.map((s) => s.got)).toEqual([
      [0, 3, 6],
      [1, 4],
      [2, 5],
    ]);
    expect(rr.inFlight).toBe(7);
    rr.close();
    expect(sinks.every((s) => s.closed)).toBe(true);
  });

  it('refuses an empty target list', () => {
    expect(() => new RoundRobinClient<number>([], 1, 1000, () => undefined)).toThrow(/at least one target/);
  });
});
