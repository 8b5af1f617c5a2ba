/** The built-in plugin types, by id. */
import { jws } from '../../plugins/jws';
import { standardWebhooks } from '../../plugins/standard-webhooks';
import type { VerifierPlugin } from './types';

export const verifierTypes = {
  'standard-webhooks': standardWebhooks,
  jws,
} satisfies Record<string, VerifierPlugin<unknown>>;

export type VerifierTypeId = keyof typeof verifierTypes;

export function verifierType(id: string): VerifierPlugin<unknown> | undefined {
  return Object.hasOwn(verifierTypes, id) ? (verifierTypes[id as VerifierTypeId] as VerifierPlugin<unknown>) : undefined;
}
