import { PartitionLostError } from './record-collector';
import { OwnershipGuards } from './ownership-guards';
import { FakeControl, quietLogger } from './testing/fakes';

describe('OwnershipGuards.local', () => {
  it('waits while the coordinator cannot be asked, and stops waiting at once when the task is given up', async () => {
    const control = new FakeControl();
    control.ownership = () => new Error('coordinator not available');
    const giving = new AbortController();
    // a backoff no test outlives: only the abort can end the wait
    const guards = new OwnershipGuards(1, () => control, giving.signal, quietLogger, { initial: 600_000, max: 600_000 });
    const guard = guards.local();
    const confirming = guard.confirm();
    const outcome = confirming.then(
      () => 'confirmed',
      (e: Error) => e.message,
    );
    while (control.confirmations.length === 0) await new Promise((r) => setTimeout(r, 1));
    expect(guard.active()).toBe(true);
    giving.abort();
    expect(guard.active()).toBe(false);
    expect(await outcome).toBe('given up');
    expect(control.confirmations).toEqual([1]);
  });

  it('a coordinator that answers "not yours" ends the wait with PartitionLostError; "yours" confirms', async () => {
    const control = new FakeControl();
    let asked = 0;
    control.ownership = () => (++asked === 1 ? new Error('coordinator not available') : false);
    const guards = new OwnershipGuards(1, () => control, new AbortController().signal, quietLogger, { initial: 1, max: 1 });
    await expect(guards.local().confirm()).rejects.toBeInstanceOf(PartitionLostError);
    control.ownership = () => true;
    await expect(guards.local().confirm()).resolves.toBeUndefined();
  });
});
