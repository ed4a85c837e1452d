import { processCpu, processCpuSeconds } from './cpu';

describe('CPU time of a process (/proc/<pid>/stat)', () => {
  it('reads user + system seconds of a live process, and nothing without a pid or a process', () => {
    const sample = processCpu(process.pid);
    const seconds = processCpuSeconds(process.pid);
    expect(sample).toBeDefined();
    expect(seconds).toBeGreaterThanOrEqual(sample!.user + sample!.system);
    expect(processCpuSeconds(undefined)).toBeUndefined();
    expect(processCpuSeconds(2 ** 22 + 1)).toBeUndefined(); // above Linux's pid_max limit: no such process
  });
});
