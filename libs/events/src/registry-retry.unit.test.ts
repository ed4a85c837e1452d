import {
  InvalidEventError,
  RegistryUnavailableError,
  retryWhileRegistryUnavailable,
} from '@doubletap/events';

describe('retryWhileRegistryUnavailable', () => {
  const unavailable = () => new RegistryUnavailableError(7, new Error('ECONNREFUSED'));

  it('waits out a registry failure and answers what fn answers then', async () => {
    let calls = 0;
    const retries: number[] = [];
    const value = await retryWhileRegistryUnavailable(
      async () => {
        if (++calls < 4) throw unavailable();
        return 'decoded';
      },
      { initialMs: 1, maxMs: 2, onRetry: (_e, attempt) => retries.push(attempt) },
    );
    expect(value).toBe('decoded');
    expect(retries).toEqual([1, 2, 3]);
  });

  it('throws a poison record at once', async () => {
    let calls = 0;
    const poison = new InvalidEventError('undecodable', 'bad magic');
    await expect(
      retryWhileRegistryUnavailable(async () => {
        calls++;
        throw poison;
      }),
    ).rejects.toBe(poison);
    expect(calls).toBe(1);
  });

  it('gives up with the registry error when told to (deadline or abort)', async () => {
    await expect(
      retryWhileRegistryUnavailable(async () => Promise.reject(unavailable()), {
        giveUpAfterMs: 0,
        initialMs: 1,
      }),
    ).rejects.toBeInstanceOf(RegistryUnavailableError);
    const aborted = AbortSignal.abort();
    await expect(
      retryWhileRegistryUnavailable(async () => Promise.reject(unavailable()), {
        signal: aborted,
        initialMs: 1,
      }),
    ).rejects.toBeInstanceOf(RegistryUnavailableError);
  });
});
