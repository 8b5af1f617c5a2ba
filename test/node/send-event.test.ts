import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildEvents, parseSendEventArgs, type SendEventOptions } from '../../scripts/lib/send-event-options.ts';

const script = join(import.meta.dirname, '../../scripts/send-event.ts');
const options = (argv: string[], env: Record<string, string> = {}): SendEventOptions => {
  const parsed = parseSendEventArgs(argv, env);
  if (parsed.kind !== 'send') throw new Error(`expected options, got ${JSON.stringify(parsed)}`);
  return parsed.options;
};

describe('npm run send-event', () => {
  it('prints its options and exits 0 when run with --help', () => {
    const run = spawnSync(process.execPath, [script, '--help'], { encoding: 'utf8' });
    expect(run.status).toBe(0);
    for (const flag of ['--id', '--subject', '--partition-key', '--url', '--secret', '--count', '--type', '--data']) expect(run.stdout).toContain(flag);
  });

  it('exits 2 with the usage when an option is unknown', () => {
    const run = spawnSync(process.execPath, [script, '--bogus'], { encoding: 'utf8' });
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('Usage: npm run send-event');
  });

  it('builds one event with the given id, subject and partition key', () => {
    const [event, ...rest] = buildEvents(
      options(['--id', 'order-42', '--type', 'orders.created', '--data', '{"amount":3}', '--subject', 'customer/7', '--partition-key', 'c7']),
    );
    expect(rest).toEqual([]);
    expect(event).toMatchObject({
      specversion: '1.0',
      id: 'order-42',
      type: 'orders.created',
      subject: 'customer/7',
      partitionkey: 'c7',
      data: { amount: 3 },
      source: 'switchyard/demo',
    });
  });

  it('builds the same event again when --id is given, so a resend is a duplicate', () => {
    const argv = ['--id', 'order-42', '--type', 'orders.created', '--data', '{"amount":3}'];
    expect(buildEvents(options(argv), new Date(0))).toEqual(buildEvents(options(argv), new Date()));
    expect(buildEvents(options([]))[0]).toHaveProperty('time');
  });

  it('builds a batch of --count events with distinct ids', () => {
    const events = buildEvents(options(['--count', '3', '--id', 'o']));
    expect(events.map((e) => e.id)).toEqual(['o-1', 'o-2', 'o-3']);
    expect(new Set(buildEvents(options(['--count', '5'])).map((e) => e.id)).size).toBe(5);
  });

  it('leaves subject and partitionkey out when they are not given', () => {
    const [event] = buildEvents(options([]));
    expect(event).not.toHaveProperty('subject');
    expect(event).not.toHaveProperty('partitionkey');
    expect(event).toMatchObject({ type: 'demo.greeting', data: { hello: 'world' } });
  });

  it('takes the environment equivalents when the flags are absent', () => {
    expect(
      options([], { INGEST_URL: 'http://x/v1/ingest/src_1', SOURCE_SECRET: 'whsec_a', EVENT_TYPE: 'orders.created', EVENT_DATA: '{"a":1}' }),
    ).toMatchObject({
      url: 'http://x/v1/ingest/src_1',
      secret: 'whsec_a',
      type: 'orders.created',
      data: { a: 1 },
    });
  });

  it('refuses a --count outside 1..1000 and --data that is not JSON', () => {
    for (const argv of [
      ['--count', '0'],
      ['--count', '1001'],
      ['--count', '2.5'],
      ['--data', '{nope'],
    ]) {
      expect(parseSendEventArgs(argv).kind, argv.join(' ')).toBe('error');
    }
  });
});
