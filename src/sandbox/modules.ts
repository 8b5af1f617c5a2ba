/**
 * The modules loaded next to a tenant's (instrumented) `tenant.js` in its isolate.
 *
 * `guard.js` is evaluated before the tenant's module (the tenant's first import), so it captures
 * `Date.now` and `JSON.stringify` before tenant code could replace them. Its control object is handed
 * out once, to `wrapper.js`; if the tenant's module took it first, the wrapper fails to start and the
 * script fails closed. A tick checks the clock every 32 calls (at module top level, where Workers stop
 * the clock, it counts ticks instead); once tripped, every tick throws until the next call begins, so
 * a loop that catches the error cannot line its ticks up to dodge the check. It also caps single bulk
 * allocations (`allocation.ts`) and takes away code generation from strings (`codegen.ts`).
 *
 * `wrapper.js` is the entrypoint the runtime calls over RPC. `call` returns an envelope the tenant
 * cannot forge: `{ ok: true, json }` (the result as JSON text, `json` absent for `undefined`) or
 * `{ ok: false, error }`. An action's `ctx.fetch` goes to the egress binding passed with the call (none:
 * refused), and time spent waiting for it does not count against the budget.
 */
import { ALLOCATION_CAPS } from './allocation';
import { CODEGEN_LOCK } from './codegen';

export const GUARD_VERSION = 3;

/** Ticks allowed while the module itself is evaluated (the clock reads 0 there). */
const STARTUP_TICKS = 5_000_000;

export const GUARD_MODULE = `${ALLOCATION_CAPS}${CODEGEN_LOCK}
const clock = Date.now;
const stringify = JSON.stringify;
const StdError = Error;
let budgetEnd = -1;
let ticks = 0;
let tripped = false;
let taken = false;
const message = () => budgetEnd < 0
  ? 'the script exceeded its CPU budget while its module was evaluated'
  : 'the script exceeded its CPU budget';
export function tick() {
  if (tripped || ((++ticks & 31) === 0 && (budgetEnd < 0 ? ticks > ${STARTUP_TICKS} : clock() > budgetEnd))) {
    tripped = true;
    throw new StdError(message());
  }
  return true;
}
export function takeControl() {
  if (taken) throw new StdError('the sandbox guard was tampered with');
  taken = true;
  return {
    begin(ms) { budgetEnd = clock() + ms; ticks = 0; tripped = false; },
    pause() { const at = clock(); return () => { if (budgetEnd >= 0) budgetEnd += clock() - at; }; },
    tripped() { return tripped; },
    message,
    stringify,
  };
}
`;

export const WRAPPER_MODULE = `
import { takeControl } from './guard.js';
import * as tenant from './tenant.js';
import { WorkerEntrypoint } from 'cloudflare:workers';
const control = takeControl();
const NAMES = ['validate', 'transform', 'handle'];
const describe = (error) => {
  try {
    return (error instanceof Error ? error.name + ': ' + error.message : 'threw ' + control.stringify(error)).slice(0, 1000);
  } catch {
    return 'threw a value that cannot be described';
  }
};
export default class Script extends WorkerEntrypoint {
  exportsOf() {
    const found = {};
    for (const name of NAMES) found[name] = typeof tenant[name];
    return found;
  }
  async call(name, args, budgetMs, limitChars, egressBinding) {
    if (!NAMES.includes(name) || typeof tenant[name] !== 'function') return { ok: false, error: 'the module does not export a function named ' + name };
    const input = name === 'handle' ? [args[0], { ...args[1], fetch: (url, init) => egress(egressBinding, url, init) }] : args;
    control.begin(budgetMs);
    let value;
    try {
      value = await tenant[name](...input);
    } catch (error) {
      return { ok: false, error: control.tripped() ? control.message() : describe(error) };
    }
    if (control.tripped()) return { ok: false, error: control.message() };
    let json;
    try {
      json = control.stringify(value);
    } catch (error) {
      return { ok: false, error: 'the result is not JSON: ' + describe(error) };
    }
    if (typeof json === 'string' && json.length > limitChars) return { ok: false, error: 'the result is larger than ' + limitChars + ' characters of JSON' };
    return json === undefined ? { ok: true } : { ok: true, json };
  }
}
async function egress(binding, url, init) {
  if (!binding) throw new Error('EgressRefused: this script has no allowed_hosts');
  const resume = control.pause();
  try {
    const response = await binding.fetch(url, init);
    const verdict = response.headers.get('x-switchyard-egress');
    if (verdict) throw new Error((verdict === 'refused' ? 'EgressRefused: ' : 'egress failed: ') + await response.text());
    return response;
  } finally {
    resume();
  }
}
`;

/**
 * Links (parses) the tenant's module without running any of it: `stop.js` is evaluated first and
 * throws, so a load error naming `stop.js` means the source parsed and its imports resolved.
 */
export const PARSE_CHECK_MODULES = {
  'check.js': "import './stop.js';\nimport './tenant.js';\n",
  'stop.js': "throw new Error('__switchyard_parsed__');\n",
};
export const PARSED_MARKER = '__switchyard_parsed__';
