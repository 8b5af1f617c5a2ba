/** The machine and tool versions a benchmark ran on, for the report. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { root } from '../lib/demo.ts';

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  workerd: string;
  wrangler: string;
  miniflare: string;
  autocannon: string;
  loadAverageAtStart: number[];
}

function version(pkg: string): string {
  try {
    return (JSON.parse(readFileSync(join(root, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function machineInfo(): MachineInfo {
  const cpu = cpus();
  return {
    cpuModel: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    workerd: version('workerd'),
    wrangler: version('wrangler'),
    miniflare: version('miniflare'),
    autocannon: version('autocannon'),
    loadAverageAtStart: loadavg().map((n) => Math.round(n * 100) / 100),
  };
}
