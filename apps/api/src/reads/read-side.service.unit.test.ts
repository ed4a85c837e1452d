import type { TestingModule } from '@nestjs/testing';
import type { HealthRegistry } from '@doubletap/observability';
import { LiveCounts, ReadRequestError, ReadSideHealingError } from '@doubletap/redis';
import { ProblemException } from '../http/problem';
import { HEALTH } from '../platform/tokens';
import { FakeCounts, FakeOwners, fakeLiveCounts } from '../testing/fakes';
import { compileUnit } from '../testing/unit-app';
import { CountRepository } from './count.repository';
import { OwnerDirectory } from './owner-directory';
import { ReadSide } from './read-side.service';
import { ReadsModule } from './reads.module';

describe('ReadSide (repositories faked)', () => {
  let counts: FakeCounts;
  let owners: FakeOwners;
  let moduleRef: TestingModule;
  let reads: ReadSide;

  beforeEach(async () => {
    counts = new FakeCounts();
    owners = new FakeOwners();
    moduleRef = await compileUnit(ReadsModule, [
      [CountRepository, counts],
      [OwnerDirectory, owners],
      [LiveCounts, fakeLiveCounts()],
    ]);
    reads = moduleRef.get(ReadSide);
  });
  afterEach(() => moduleRef.close());

  it('reads a count and shows it the way the app does', async () => {
    counts.set('p1', 999, 1000);
    counts.set('p2', 1234, 2000);
    await expect(reads.count('p1')).resolves.toEqual({
      postId: 'p1',
      count: 999,
      display: '999',
      asOf: '1970-01-01T00:00:01.000Z',
    });
    await expect(reads.many(['p2', 'p3'])).resolves.toEqual([
      { postId: 'p2', count: 1234, display: '1,234', asOf: '1970-01-01T00:00:02.000Z' },
      { postId: 'p3', count: 0, display: '0', asOf: null },
    ]);
  });

  it('healing: a 503 read-side-healing problem, and readiness says why', async () => {
    counts.failure = new ReadSideHealingError(1, 12);
    counts.healingReason = 'read side healing: 1 of 12 partitions restored';
    const e: unknown = await reads.count('p1').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ProblemException);
    const problem = e as ProblemException;
    expect([problem.getStatus(), problem.slug, problem.headers]).toEqual([
      503,
      'read-side-healing',
      { 'retry-after': '2' },
    ]);
    expect(problem.extensions).toEqual({ restored: 1, partitions: 12 });
    const report = await moduleRef.get<HealthRegistry>(HEALTH).report();
    expect(report.checks['read-side']).toMatchObject({
      status: 'down',
      error: 'read side healing: 1 of 12 partitions restored',
    });
  });

  it('a request the read side refuses is a 400', async () => {
    counts.failure = new ReadRequestError('at most 100 posts per read (got 101)');
    await expect(reads.many(['p1'])).rejects.toMatchObject({
      slug: 'bad-request',
      detail: expect.stringMatching(/at most 100/),
    });
  });

  it('likedByViewer: "starting" until the partition count is known, then asks the owner', async () => {
    await expect(reads.likedByViewer('p1', 'u1')).resolves.toEqual({ liked: null, reason: 'starting' });
    owners.partitions = 12;
    await expect(reads.likedByViewer('p1', 'u1')).resolves.toEqual({ liked: null, reason: 'no-owner' });
  });

  it('streams are ended before shutdown, and none are accepted after', () => {
    let ended = 0;
    reads.trackStream(() => ended++);
    const untrack = reads.trackStream(() => ended++);
    untrack();
    expect(reads.acceptingStreams).toBe(true);
    reads.beforeApplicationShutdown();
    expect(ended).toBe(1);
    expect(reads.acceptingStreams).toBe(false);
  });
});
