// Tests call the core and createApp() directly, without the Worker's entry module, so they install the
// built-in plugins the way src/index.ts does.
import '../src/built-ins';
