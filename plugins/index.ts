/**
 * The built-in plugin types, by id: the one list a new plugin joins. Write `plugins/<id>/index.ts`
 * against `src/plugins/types.ts` and `src/plugins/kit`, then add it here. The composition root
 * (`src/index.ts`) installs this list into the registry; nothing in the core imports it.
 */
import type { PluginType } from '../src/plugins/types';
import { discord } from './discord';
import { email } from './email';
import { github } from './github';
import { hmac } from './hmac';
import { jsonSchema } from './json-schema';
import { jws } from './jws';
import { noop } from './noop';
import { redact } from './redact';
import { scriptAction, scriptTransformer, scriptValidator } from './script';
import { setAttributes } from './set-attributes';
import { slack } from './slack';
import { sms } from './sms';
import { standardWebhooks } from './standard-webhooks';
import { stripe } from './stripe';
import { teams } from './teams';
import { webhook } from './webhook';

export const builtInPlugins = {
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
  teams,
  email,
  sms,
  noop,
  'script-validator': scriptValidator,
  'script-transformer': scriptTransformer,
  'script-action': scriptAction,
} satisfies Record<string, PluginType>;
