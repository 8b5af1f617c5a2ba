/**
 * Where the machine's CPU went during a measurement (Linux /proc): workerd, this load-generating
 * Node process, Postgres, and everything else. On two cores the load generator competes with
 * workerd, and other people's test runs may compete with both, so every figure carries this.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { procStat } from './runtime.ts';

export interface CpuShare {
  /** Percent of one core, averaged over the window (200 = both cores of a 2-core machine). */
  workerd: number;
  loadGenerator: number;
  postgres: number;
  /** Busy time not accounted for by the three above: other processes on the machine. */
  other: number;
  idle: number;
}

const TICKS_PER_SECOND = 100;

function systemTicks(): { busy: number; idle: number } | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const [user, nice, system, idle, iowait, irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number) as number[];
    return { busy: user! + nice! + system! + irq! + softirq! + steal!, idle: idle! + iowait! };
  } catch {
    return null;
  }
}

/** CPU ticks of every process named `command`, including the exited workers they reaped (Postgres backends). */
function ticksOf(command: string): number {
  let total = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const stat = procStat(Number(entry));
      if (stat?.comm.startsWith(command)) total += stat.ticks + stat.reapedTicks;
    }
  } catch {
    // not Linux
  }
  return total;
}

/** Starts a window; the returned function ends it and reports the shares. */
export function startCpuMeter(workerdPid: number | null): () => CpuShare | null {
  const started = Date.now();
  const system = systemTicks();
  const workerd = workerdPid ? (procStat(workerdPid)?.ticks ?? 0) : 0;
  const postgres = ticksOf('postgres');
  const self = process.cpuUsage();
  return () => {
    const end = systemTicks();
    if (!system || !end) return null;
    const seconds = (Date.now() - started) / 1000;
    const pct = (ticks: number) => Math.round((ticks / TICKS_PER_SECOND / seconds) * 100);
    const usage = process.cpuUsage(self);
    const loadGenerator = Math.round(((usage.user + usage.system) / 1e6 / seconds) * 100);
    const w = pct((workerdPid ? (procStat(workerdPid)?.ticks ?? workerd) : workerd) - workerd);
    const pg = pct(ticksOf('postgres') - postgres);
    const busy = pct(end.busy - system.busy);
    return { workerd: w, loadGenerator, postgres: pg, other: Math.max(0, busy - w - loadGenerator - pg), idle: pct(end.idle - system.idle) };
  };
}
