/**
 * Source text evaluated in `guard.js` (see `modules.ts`), before the tenant's module: it takes away
 * every way to turn a string or bytes into code. Workers refuse code generation while a request runs,
 * but allow it while a module is evaluated, and code made that way never passed through the
 * instrumentation: `new Function('while (true) {}')` built at load and called later would spin with
 * no guard. Replaced with functions that throw an `EvalError`: the global `eval` (so `eval(…)` is no
 * longer a direct eval either), the constructors of ordinary, async, generator and async generator
 * functions (as globals and as `.constructor` of their prototypes, so `instanceof Function` still
 * holds), and WebAssembly's `Module`, `Instance`, `compile`, `compileStreaming`, `instantiate` and
 * `instantiateStreaming`.
 */
export const CODEGEN_LOCK = `
const StdEvalError = EvalError;
const refuseCode = () => {
  throw new StdEvalError('the sandbox does not run code built at run time (eval, Function, WebAssembly): it could not be guarded');
};
const lockConstructor = (prototype, globalName) => {
  const blocked = function () { refuseCode(); };
  Object.defineProperty(blocked, 'prototype', { value: prototype, writable: false, enumerable: false, configurable: false });
  Object.defineProperty(prototype, 'constructor', { value: blocked, writable: false, enumerable: false, configurable: false });
  if (globalName) Object.defineProperty(globalThis, globalName, { value: blocked, writable: true, enumerable: false, configurable: true });
};
lockConstructor(Function.prototype, 'Function');
lockConstructor(Object.getPrototypeOf(async function () {}), null);
lockConstructor(Object.getPrototypeOf(function* () {}), null);
lockConstructor(Object.getPrototypeOf(async function* () {}), null);
Object.defineProperty(globalThis, 'eval', { value: function () { refuseCode(); }, writable: true, enumerable: false, configurable: true });
if (typeof WebAssembly === 'object') {
  for (const name of ['Module', 'Instance', 'compile', 'compileStreaming', 'instantiate', 'instantiateStreaming']) {
    if (name in WebAssembly) Object.defineProperty(WebAssembly, name, { value: function () { refuseCode(); }, writable: true, enumerable: false, configurable: true });
  }
}
`;
