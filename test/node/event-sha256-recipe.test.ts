import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../..');
const program = readFileSync(join(root, 'scripts/event-sha256.jq'), 'utf8');
const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

// loaded at run time: src/ uses extensionless imports, which the scripts' tsconfig (node16) does not type-check
type ToIngestEvent = (input: unknown) => { ok: true; value: { json: string } } | { ok: false; problem: { detail: string } };
const envelope = '../../src/ingest/envelope';
const { toIngestEvent } = (await import(/* @vite-ignore */ envelope)) as { toIngestEvent: ToIngestEvent };

/** The hash ingest stores for `text` (pipeline.ts: sha256 of the validated event's JSON). */
function storedHash(text: string): string {
  const item = toIngestEvent(JSON.parse(text));
  if (!item.ok) throw new Error(item.problem.detail);
  return sha256(item.value.json);
}

const recipe = (text: string) => sha256(execFileSync('jq', ['-cj', program], { input: text, encoding: 'utf8' }));
/** The README's exact recipe for any event: the same reordering in JavaScript, whose JSON.stringify ingest uses. */
export const NODE_RECIPE = `const e=JSON.parse(require('fs').readFileSync(0,'utf8')),k=['specversion','id','source','type','subject','time','datacontenttype','dataschema','data','data_base64'],o={};for(const x of k)if(x in e)o[x]=e[x];for(const x in e)k.includes(x)||(o[x]=e[x]);process.stdout.write(JSON.stringify(o))`;
const nodeRecipe = (text: string) => sha256(execFileSync(process.execPath, ['-e', NODE_RECIPE], { input: text, encoding: 'utf8' }));

// as producers write them: pretty-printed, attributes in any order, extensions, unicode, nested data
const events = [
  `{
    "data": {"order": "o-1", "amount": 12.5, "items": [{"sku": "A", "qty": 2}], "note": "naïve café ✓ 😀"},
    "type": "orders.created", "region": "eu", "specversion": "1.0", "source": "https://shop.example",
    "id": "ord-1-created", "subject": "order/1", "time": "2026-11-29T12:00:00Z", "priority": "high"
  }`,
  '{"specversion":"1.0","id":"x","source":"s","type":"a.b"}',
  '{"id":"y","type":"a.b","source":"s","specversion":"1.0","datacontenttype":"text/plain","data":"line\\nbreak \\"quoted\\" \\u00e9","causationid":"x","correlationid":"c-1"}',
  '{"specversion":"1.0","id":"z","source":"s","type":"a.b","data_base64":"aGVsbG8=","seq":3,"flag":true}',
  '{"specversion":"1.0","id":"n","source":"s","type":"a.b","data":{"big":123456789,"neg":-0.25,"list":[],"empty":{},"nil":null}}',
];
// jq 1.6 writes these numbers differently from JavaScript (1.5e-07, 1e+100 as 1e+100 but 1.0 as 1): the Node recipe covers them
const jsOnly = [
  '{"specversion":"1.0","id":"e","source":"s","type":"a.b","data":{"small":1.5e-7,"one":1.0,"huge":1e300}}',
  '{"specversion":"1.0","id":"k","source":"s","type":"a.b","data":{"b":1,"10":2,"2":3}}',
];

describe.skipIf(!hasJq())('the README recipe for an event sha256 (scripts/event-sha256.jq)', () => {
  it('gives the hash Switchyard stores for the event the producer sent', () => {
    for (const [i, text] of events.entries()) expect({ i, hash: recipe(text) }).toEqual({ i, hash: storedHash(text) });
  });

  it('is exact for any event in its Node form', () => {
    for (const [i, text] of [...events, ...jsOnly].entries()) expect({ i, hash: nodeRecipe(text) }).toEqual({ i, hash: storedHash(text) });
  });

  it('is the program the README prints', () => {
    const readme = readFileSync(join(root, 'README.md'), 'utf8');
    expect(readme).toContain(program.trim());
    expect(readme).toContain(NODE_RECIPE);
  });
});

function hasJq(): boolean {
  try {
    execFileSync('jq', ['--version']);
    return true;
  } catch {
    return false;
  }
}
