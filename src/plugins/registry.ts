/**
 * The built-in plugin types, by id, and the catalog `GET /v1/plugins` serves. Adding a type: write
 * `plugins/<id>/index.ts` against `types.ts`, then list it here.
 */
import { z } from 'zod';
import { discord } from '../../plugins/discord';
import { github } from '../../plugins/github';
import { hmac } from '../../plugins/hmac';
import { jsonSchema } from '../../plugins/json-schema';
import { jws } from '../../plugins/jws';
import { redact } from '../../plugins/redact';
import { scriptAction, scriptTransformer, scriptValidator } from '../../plugins/script';
import { setAttributes } from '../../plugins/set-attributes';
import { slack } from '../../plugins/slack';
import { standardWebhooks } from '../../plugins/standard-webhooks';
import { stripe } from '../../plugins/stripe';
import { webhook } from '../../plugins/webhook';
import type { PluginKind, PluginType, VerifierPlugin } from './types';

export const pluginTypes = {
  'standard-webhooks': standardWebhooks,
  jws,
  github,
  stripe,
  hmac,
  'json-schema': jsonSchema,
  'set-attributes': setAttributes,
  redact,
  webhook,
  slack,
  discord,
  'script-validator': scriptValidator,
  'script-transformer': scriptTransformer,
  'script-action': scriptAction,
} satisfies Record<string, PluginType>;

export function pluginType(id: string): PluginType | undefined {
  return Object.hasOwn(pluginTypes, id) ? (pluginTypes[id as keyof typeof pluginTypes] as PluginType) : undefined;
}

export function verifierType(id: string): VerifierPlugin | undefined {
  const type = pluginType(id);
  return type?.kind === 'verifier' ? type : undefined;
}

export function typesOfKind(kind: PluginKind): string[] {
  return Object.values(pluginTypes as Record<string, PluginType>).filter((t) => t.kind === kind).map((t) => t.id);
}

export interface CatalogEntry {
  id: string;
  kind: PluginKind;
  api_version: number;
  description: string;
  config_schema: Record<string, unknown>;
}

let catalogCache: CatalogEntry[] | undefined;

export function catalog(): CatalogEntry[] {
  catalogCache ??= Object.values(pluginTypes as Record<string, PluginType>).map((t) => ({
    id: t.id,
    kind: t.kind,
    api_version: t.apiVersion,
    description: t.description,
    config_schema: z.toJSONSchema(t.config, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>,
  }));
  return catalogCache;
}
