import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** CPU a process used over a load run: seconds (user + system), per request sent, and cores busy. */
export interface CpuUse {
  seconds: number;
  userSeconds: number;
  systemSeconds: number;
  /** microseconds of CPU per request the run sent */
  usPerRequest: number;
  /** mean cores busy over the run (seconds of CPU / seconds of wall time) */
  cores: number;
}

export interface CpuSample {
  user: number;
  system: number;
}

let ticksPerSecond: number | undefined;
/** USER_HZ: the unit of /proc/<pid>/stat's times (100 on every usual Linux). */
function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** This process's CPU so far, seconds. */
export function ownCpu(): CpuSample {
  const u = process.cpuUsage();
  return { user: u.user / 1e6, system: u.system / 1e6 };
}

/**
 * Another process's CPU so far, seconds, from /proc/<pid>/stat (utime and stime); undefined where
 * there is no /proc or the process is gone.
 */
export function processCpu(pid: number): CpuSample | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // the command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const hz = clockTicks();
  // fields[0] is field 3 (state); utime is field 14, stime field 15
  return { user: Number(fields[11]) / hz, system: Number(fields[12]) / hz };
}

/** Another process's CPU so far (user + system), seconds; undefined without a pid, /proc or the process. */
export function processCpuSeconds(pid: number | undefined): number | undefined {
  const sample = pid === undefined ? undefined : processCpu(pid);
  return sample && sample.user + sample.system;
}

export function cpuUse(from: CpuSample, to: CpuSample, requests: number, wallSeconds: number): CpuUse {
  const user = Math.max(0, to.user - from.user);
  const system = Math.max(0, to.system - from.system);
  const r3 = (v: number) => Math.round(v * 1000) / 1000;
  return {
    seconds: r3(user + system),
    userSeconds: r3(user),
    systemSeconds: r3(system),
    usPerRequest: requests > 0 ? Math.round(((user + system) * 1e6 * 10) / requests) / 10 : 0,
    cores: wallSeconds > 0 ? Math.round(((user + system) / wallSeconds) * 100) / 100 : 0,
  };
}
