import { Slots } from './slots';

describe('Slots', () => {
  const tick = () => new Promise((r) => setImmediate(r));

  it('runs at most `size` at a time, the others in arrival order, and frees a slot on failure', async () => {
    const slots = new Slots(2);
    const started: number[] = [];
    const release = new Map<number, (fail?: boolean) => void>();
    const work = (i: number) =>
      slots.run(
        () =>
          new Promise<number>((resolve, reject) => {
            started.push(i);
            release.set(i, (fail) => (fail ? reject(new Error(`w${i}`)) : resolve(i)));
          }),
      );
    const all = [1, 2, 3, 4].map((i) => work(i).catch((e: Error) => e.message));
    await tick();
    expect(started).toEqual([1, 2]);
    release.get(2)!(true);
    await tick();
    expect(started).toEqual([1, 2, 3]);
    release.get(1)!();
    await tick();
    expect(started).toEqual([1, 2, 3, 4]);
    release.get(3)!();
    release.get(4)!();
    expect(await Promise.all(all)).toEqual([1, 'w2', 3, 4]);
  });

  it('refuses a size below one', () => {
    expect(() => new Slots(0)).toThrow(/positive integer/);
  });
});
