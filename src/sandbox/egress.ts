/**
 * The only way out of a script's isolate: an entrypoint of this Worker that the sandbox passes along
 * with each `handle` call (`ctx.exports.ScriptEgress({ props })`, an RPC argument). Scripts load with
 * `globalOutbound: null`, so their global `fetch` reaches nothing; this binding reaches only the hosts
 * in the instance's `allowed_hosts`, and only through the guarded fetch, so the SSRF rules of the
 * webhook action hold as well (`EGRESS_ALLOWLIST` lifts them for local destinations, as for webhooks).
 *
 * A refusal or a network failure is answered with the `x-switchyard-egress` header (`refused` or
 * `failed`) and the reason as body; the script's `ctx.fetch` turns that into a rejection. The header
 * is removed from real responses so a destination cannot fake one.
 */
import { WorkerEntrypoint } from 'cloudflare:workers';
import { createGuardedFetch } from '../delivery/guarded-fetch';
import { configOf } from '../config';
import { hostAllowed } from './allowed-hosts';

export interface EgressProps {
  tenantId: string;
  /** `host` or `host:port` entries, as `normaliseHost` returns them. */
  allowedHosts: string[];
}

export const EGRESS_HEADER = 'x-switchyard-egress';
/** Request bodies a script may send, and response bytes it gets back. */
export const EGRESS_BODY_LIMIT_BYTES = 1024 * 1024;
export const EGRESS_RESPONSE_LIMIT_BYTES = 64 * 1024;

export class ScriptEgress extends WorkerEntrypoint<Env, EgressProps> {
  override async fetch(request: Request): Promise<Response> {
    const { tenantId, allowedHosts } = this.ctx.props;
    const verdict = (kind: 'refused' | 'failed', reason: string) => {
      console.warn(JSON.stringify({ msg: `script egress ${kind}`, tenantId, url: request.url, reason }));
      return new Response(reason, { status: kind === 'refused' ? 403 : 502, headers: { [EGRESS_HEADER]: kind } });
    };
    if (!hostAllowed(request.url, allowedHosts)) return verdict('refused', `${hostOf(request.url)} is not in the script's allowed_hosts`);
    const body = request.body ? await request.arrayBuffer() : undefined;
    if (body && body.byteLength > EGRESS_BODY_LIMIT_BYTES) return verdict('refused', `request bodies are limited to ${EGRESS_BODY_LIMIT_BYTES} bytes`);
    const guarded = createGuardedFetch({ allowlist: configOf(this.env).egressAllowlist, bodyLimitBytes: EGRESS_RESPONSE_LIMIT_BYTES });
    try {
      const response = await guarded(request.url, { method: request.method, headers: request.headers, body });
      const headers = new Headers(response.headers);
      headers.delete(EGRESS_HEADER);
      return new Response(response.body, { status: response.status, statusText: response.statusText, headers });
    } catch (error) {
      if (error instanceof Error && error.name === 'EgressRefused') return verdict('refused', error.message);
      return verdict('failed', error instanceof Error ? `${error.name}: ${error.message}` : String(error));
    }
  }
}

function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return 'an invalid URL';
  }
}
