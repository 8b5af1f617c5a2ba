/**
 * The plugin types this Worker knows, by id, and the catalog `GET /v1/plugins` serves. The list
 * itself is `plugins/index.ts`; the composition root installs it once at start-up (`src/index.ts`), so
 * the core looks types up here without loading any plugin module itself.
 */
import { z } from 'zod';
import type { PluginKind, PluginType, VerifierPlugin } from './types';

let installed: Readonly<Record<string, PluginType>> = {};
let catalogCache: CatalogEntry[] | undefined;

/** Replaces the known types (the composition root and the tests' setup call it, before any request). */
export function installPluginTypes(types: Readonly<Record<string, PluginType>>): void {
  installed = types;
  catalogCache = undefined;
}

export function pluginType(id: string): PluginType | undefined {
  return Object.hasOwn(installed, id) ? installed[id] : undefined;
}

export function verifierType(id: string): VerifierPlugin | undefined {
  const type = pluginType(id);
  return type?.kind === 'verifier' ? type : undefined;
}

export function typesOfKind(kind: PluginKind): string[] {
  return Object.values(installed)
    .filter((t) => t.kind === kind)
    .map((t) => t.id);
}

export interface CatalogEntry {
  id: string;
  kind: PluginKind;
  api_version: number;
  description: string;
  config_schema: Record<string, unknown>;
}

export function catalog(): CatalogEntry[] {
  catalogCache ??= Object.values(installed).map((t) => ({
    id: t.id,
    kind: t.kind,
    api_version: t.apiVersion,
    description: t.description,
    config_schema: z.toJSONSchema(t.config, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
  }));
  return catalogCache;
}
