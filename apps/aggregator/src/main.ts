import { runWorker } from '@doubletap/runtime';
import { AggregatorApp } from './aggregator.app';

/** Crash tests only: SIGKILL this process the Nth time it passes a point (settings.faults; 0 = never). */
function killAt(n: number, where: string): ((partition: number, count: number) => void) | undefined {
  if (!(n > 0)) return undefined;
  return (partition, count) => {
    if (count < n) return;
    process.stderr.write(`${JSON.stringify({ level: 'warn', partition, count, msg: `fault injection: SIGKILL ${where}` })}\n`);
    process.kill(process.pid, 'SIGKILL');
  };
}

void runWorker({
  name: 'aggregator',
  // closing the stores waits for the batch in flight and its output transaction
  graceMs: () => 30000,
  start: ({ settings, logger, fatal }) =>
    AggregatorApp.start(settings, {
      logger,
      onFatal: fatal,
      faults: {
        afterOutput: killAt(settings.faults.killAfterOutputs, 'after an output transaction, before its store write'),
        afterCommit: killAt(settings.faults.killAfterCommits, 'after a store write'),
      },
    }),
});
