/**
 * Seals the secrets that rows written before secret fields were sealed still hold in plain text (see
 * src/plugins/secret-fields.ts). The cron runs it every minute; reads mask such values and every write
 * through the API seals its row, so once a pass finds nothing left, none can appear again and this
 * isolate stops asking.
 */
import type { Db } from '../db/client';
import { pluginsWithPlainSecrets, sealPluginConfigInPlace } from '../db/plugins';
import { sealActionConfigInPlace, subscriptionsWithPlainSecrets } from '../db/subscriptions';
import { pluginType, typesOfKind } from '../plugins/registry';
import { plainSecretProbes, sealSecrets } from '../plugins/secret-fields';
import type { PluginKind } from '../plugins/types';

const BATCH = 100;
const KINDS: PluginKind[] = ['verifier', 'validator', 'transformer', 'action'];
let finished = false;

export async function sealLegacySecrets(db: Db, encryptionKey: string): Promise<{ plugins: number; subscriptions: number }> {
  const sealed = { plugins: 0, subscriptions: 0 };
  if (finished) return sealed;
  const probes = plainSecretProbes(KINDS.flatMap(typesOfKind).map(pluginType));
  if (probes.length === 0) return sealed;
  const plugins = await pluginsWithPlainSecrets(db, probes, BATCH);
  for (const row of plugins) {
    if (await sealPluginConfigInPlace(db, row.id, row.config, await sealSecrets(encryptionKey, pluginType(row.type), row.config))) sealed.plugins += 1;
  }
  const subscriptions = await subscriptionsWithPlainSecrets(db, probes, BATCH);
  for (const row of subscriptions) {
    if (await sealActionConfigInPlace(db, row.id, row.config, await sealSecrets(encryptionKey, pluginType(row.type), row.config))) sealed.subscriptions += 1;
  }
  finished = plugins.length === 0 && subscriptions.length === 0;
  return sealed;
}
