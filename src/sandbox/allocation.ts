/**
 * Source text evaluated in `guard.js` (see `modules.ts`), before the tenant's module: it caps what a
 * single call of the common bulk allocators may ask for, so that one builtin call cannot take the
 * local runtime's memory (workerd enforces no per-isolate memory limit; Cloudflare stops an isolate
 * at 128 MB). Loops that allocate a little at a time are the CPU guard's business.
 *
 * Capped: `Array(n)` / `new Array(n)` (and so `Array.from({ length })`, which constructs through the
 * global), `Array.prototype.fill`, `String.prototype.repeat` / `padStart` / `padEnd`, `ArrayBuffer`
 * (and `maxByteLength`), every typed array constructor, and `WebAssembly.Memory`. This is a local
 * stand-in, not a boundary: a script can still reach an uncapped allocator (for example through
 * `[].constructor`); production's memory limit is what holds there.
 */
export const MAX_ELEMENTS = 1 << 24;
export const MAX_BYTES = 1 << 26;
export const MAX_CHARS = 1 << 25;

export const ALLOCATION_CAPS = `
const StdRangeError = RangeError;
const StdProxy = Proxy;
const apply = Reflect.apply;
const construct = Reflect.construct;
const define = Object.defineProperty;
const trunc = Math.trunc;
const toNumber = Number;
const toText = String;
const refuse = (what, limit) => {
  throw new StdRangeError('the sandbox refuses ' + what + ' larger than ' + limit + ' in one allocation');
};
const size = (n) => {
  const x = trunc(toNumber(n));
  return x > 0 ? x : 0;
};
const capConstructor = (owner, name, check) => {
  const target = owner[name];
  if (typeof target !== 'function') return;
  const capped = new StdProxy(target, {
    apply(fn, self, args) { check(args); return apply(fn, self, args); },
    construct(fn, args, newTarget) { check(args); return construct(fn, args, newTarget === capped ? fn : newTarget); },
  });
  define(owner, name, { value: capped, writable: true, configurable: true, enumerable: false });
};
const capMethod = (proto, name, check) => {
  const original = proto[name];
  define(proto, name, {
    value: { [name](...args) { check(this, args); return apply(original, this, args); } }[name],
    writable: true, configurable: true, enumerable: false,
  });
};
capConstructor(globalThis, 'Array', (args) => {
  if (args.length === 1 && typeof args[0] === 'number' && args[0] > ${MAX_ELEMENTS}) refuse('an array', '${MAX_ELEMENTS} elements');
});
capMethod(Array.prototype, 'fill', (self) => {
  if (self != null && size(self.length) > ${MAX_ELEMENTS}) refuse('filling an array', '${MAX_ELEMENTS} elements');
});
capMethod(String.prototype, 'repeat', (self, [count]) => {
  if (toText(self).length * size(count) > ${MAX_CHARS}) refuse('a string', '${MAX_CHARS} characters');
});
for (const pad of ['padStart', 'padEnd']) {
  capMethod(String.prototype, pad, (self, [length]) => {
    if (size(length) > ${MAX_CHARS}) refuse('a string', '${MAX_CHARS} characters');
  });
}
const bytes = (count, each) => (typeof count === 'number' ? size(count) * each : 0);
capConstructor(globalThis, 'ArrayBuffer', ([length, options]) => {
  if (bytes(length, 1) > ${MAX_BYTES} || bytes(options?.maxByteLength, 1) > ${MAX_BYTES}) refuse('a buffer', '${MAX_BYTES} bytes');
});
for (const name of ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array', 'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array', 'BigInt64Array', 'BigUint64Array']) {
  const each = globalThis[name]?.BYTES_PER_ELEMENT ?? 1;
  capConstructor(globalThis, name, ([length]) => {
    if (bytes(length, each) > ${MAX_BYTES}) refuse('a typed array', '${MAX_BYTES} bytes');
  });
}
if (typeof WebAssembly === 'object') {
  capConstructor(WebAssembly, 'Memory', ([descriptor]) => {
    if (bytes(descriptor?.initial, 65536) > ${MAX_BYTES} || bytes(descriptor?.maximum, 65536) > ${MAX_BYTES}) refuse('a memory', '${MAX_BYTES} bytes');
  });
}
`;
