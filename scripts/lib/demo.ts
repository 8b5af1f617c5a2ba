/** Where the dev scripts keep their state, and the demo tenant/source `npm run dev` sets up. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '../..');
export const dataDir = join(root, '.data');
export const demoFile = join(dataDir, 'demo.json');

export interface Demo {
  tenant_id: string;
  source_id: string;
  ingest_url: string;
  /** The source's Standard Webhooks secret, `whsec_…`: the API shows it only once. */
  secret: string;
}

export async function readDemo(): Promise<Demo | null> {
  try {
    const demo = JSON.parse(await readFile(demoFile, 'utf8')) as Partial<Demo>;
    const { tenant_id, source_id, ingest_url, secret } = demo;
    if (tenant_id && source_id && ingest_url && secret) return { tenant_id, source_id, ingest_url, secret };
  } catch {
    // missing or unreadable: the caller sets up a new demo
  }
  return null;
}
