/**
 * Installs the built-in plugin types. Imported first by src/index.ts, for its side effect: ES modules
 * evaluate in import order, so every module after it (the routes, whose OpenAPI descriptions list the
 * plugin types of each kind) sees the registry filled.
 */
import { builtInPlugins } from '../plugins';
import { installPluginTypes } from './plugins/registry';

installPluginTypes(builtInPlugins);
