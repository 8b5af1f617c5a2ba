/**
 * `verify`: checks a Standard Webhooks signature the way a receiver does. `--headers` is a file of
 * `name: value` lines (as curl -D or an HTTP dump shows them) or a JSON object; `--body` is the raw
 * body, byte for byte. The check is the SDK's `verifyWebhook`, what a receiver runs. Exit 0 valid,
 * 1 invalid (with the reason).
 */
import { readFile } from 'node:fs/promises';
import { verifyWebhook, WebhookVerificationError } from '@switchyard/client';
import { defineCommand } from 'citty';
import { jsonArg } from '../cli.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import { printJson, printLine } from '../output.ts';

export const verify = defineCommand({
  meta: { name: 'switchyard verify', description: 'Check a Standard Webhooks signature as a receiver does (exit 0 valid, 1 invalid)' },
  args: {
    secret: { type: 'string', required: true, description: 'whsec_ secret or whpk_ public key; several comma-separated (rotation)', valueHint: 'whsec_…' },
    headers: { type: 'string', required: true, description: 'file with the request headers: "name: value" lines or a JSON object', valueHint: 'file' },
    body: { type: 'string', required: true, description: 'file with the raw request body', valueHint: 'file' },
    tolerance: { type: 'string', description: 'timestamp tolerance in seconds (default 300)', valueHint: 's' },
    ...jsonArg,
  },
  async run({ args }) {
    const secrets = args.secret
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const tolerance = args.tolerance === undefined ? 300 : Number(args.tolerance);
    if (!Number.isFinite(tolerance) || tolerance < 0) throw usageError('error: --tolerance must be a number of seconds');
    const headers = parseHeaders(await readInput(args.headers));
    const body = new Uint8Array(await readInput(args.body));
    let event: { type: string; id?: unknown };
    try {
      event = await verifyWebhook({ secrets, headers, body, toleranceSeconds: tolerance });
    } catch (error) {
      if (!(error instanceof WebhookVerificationError)) throw usageError(`error: ${error instanceof Error ? error.message : String(error)}`);
      if (args.json) printJson({ valid: false, code: error.reason, reason: error.message });
      throw new CliError(`invalid: ${error.message} (${error.reason})`, EXIT.failure, undefined, args.json);
    }
    if (args.json) return printJson({ valid: true, id: headers['webhook-id'], event });
    printLine(`valid: message ${headers['webhook-id']}, event ${event.type} ${String(event.id)}`);
  },
});

async function readInput(file: string): Promise<Buffer> {
  try {
    return await readFile(file);
  } catch (error) {
    throw usageError(`error: cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** A JSON object, or header lines (a leading `HTTP/1.1 200` / `POST /path` request line is skipped). */
export function parseHeaders(raw: Buffer): Record<string, string> {
  const text = raw.toString('utf8').trim();
  if (text.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw usageError('error: --headers looks like JSON but does not parse');
    }
    return Object.fromEntries(Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), Array.isArray(v) ? v.join(' ') : String(v)]));
  }
  const headers: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0 || /^\S+ \S+/.test(line.slice(0, colon))) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = headers[name] ? `${headers[name]} ${value}` : value;
  }
  return headers;
}
