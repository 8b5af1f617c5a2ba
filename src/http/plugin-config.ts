import { issuesToErrors, problem, ProblemError } from '../lib/problem';
import { pluginType, typesOfKind } from '../plugins/registry';
import type { PluginKind, PluginType } from '../plugins/types';

type OfKind<K extends PluginKind> = Extract<PluginType, { kind: K }>;

const isOfKind = <K extends PluginKind>(type: PluginType, kind: K | undefined): type is OfKind<K> => kind === undefined || type.kind === kind;

/** Looks up a plugin type of the wanted kind (any kind when none) or ends the request with 422 `unknown_plugin_type`. */
export function requirePluginType<K extends PluginKind = PluginKind>(id: string, pointer: string, kind?: K): OfKind<K> {
  const type = pluginType(id);
  if (!type || !isOfKind(type, kind)) {
    const choices = kind ? typesOfKind(kind) : typesOfKind('verifier').concat(typesOfKind('validator'), typesOfKind('transformer'), typesOfKind('action'));
    throw new ProblemError(
      problem(422, 'unknown_plugin_type', `no ${kind ?? 'plugin'} type "${id}"; choose one of ${choices.join(', ')}`, {
        errors: [{ pointer, detail: `unknown ${kind ?? 'plugin'} type` }],
      }),
    );
  }
  return type;
}

/**
 * Parses a config with the type's schema or ends the request with 422 `invalid_plugin_config`. The
 * schemas are strict: an unknown field is refused by name, never dropped (a verifier's `secret` put
 * in its config would otherwise be ignored and a random one made).
 */
export function parsePluginConfig(type: PluginType, config: unknown, pointer: string): unknown {
  const parsed = type.config.safeParse(config ?? {});
  if (!parsed.success) {
    const errors = issuesToErrors(parsed.error.issues, pointer).map((e) =>
      type.kind === 'verifier' && e.pointer === `${pointer}/secret`
        ? { ...e, detail: 'unknown field "secret": a verifier\'s signing secret is not config, send it as verifier.secret' }
        : e,
    );
    throw new ProblemError(problem(422, 'invalid_plugin_config', `the ${type.id} config is invalid: ${errors[0]?.pointer} ${errors[0]?.detail}`, { errors }));
  }
  return parsed.data;
}
