/**
 * Write-only config fields (`secret` in types.ts): where a type's secrets sit, sealing them for
 * storage, opening them for hooks, masking them on every read.
 *
 * Secrets are sealed in place: the stored config keeps its shape and each secret value becomes
 * `{ "$sealed": "v1.…" }` (AES-256-GCM, lib/secret-box.ts), so a header's name stays readable, and a
 * reader that forgets to open a config fails the type's schema (the instance is unavailable) instead
 * of leaking. A plain string at a secret path is a row written before secrets were sealed: reads mask
 * it, hooks use it as is, and the row's next write through the API seals it.
 */
import { z } from 'zod';
import { open, seal } from '../lib/secret-box';
import { SECRET_MARKER, type FieldProblem, type PluginType } from './types';

/** Keys from the config's root; `*` is any key of a record or index of an array. */
type Path = readonly string[];
const ANY = '*';
const SEALED = '$sealed';

type Sealed = { [SEALED]: string };
const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;
const isSealed = (value: unknown): value is Sealed => isRecord(value) && typeof value[SEALED] === 'string' && Object.keys(value).length === 1;

const pathsOf = new WeakMap<PluginType, readonly Path[]>();
const destinationsOf = new WeakMap<PluginType, readonly Path[]>();

/** The secret paths of a type, read from its config's JSON Schema (`writeOnly: true`), so the catalog and the runtime agree. */
export function secretPaths(type: PluginType | undefined): readonly Path[] {
  if (!type) return [];
  let paths = pathsOf.get(type);
  if (!paths) {
    paths = collect(z.toJSONSchema(type.config, { io: 'input', unrepresentable: 'any' }), []);
    pathsOf.set(type, paths);
  }
  return paths;
}

/**
 * Where a type's config says where requests go: its non-secret URL fields (`format: "uri"`). A stored
 * secret may be kept with `SECRET_MARKER` only while these stay as they are, or whoever may edit a
 * config without reading its secrets could send them to a server of their choice.
 */
export function destinationPaths(type: PluginType | undefined): readonly Path[] {
  if (!type) return [];
  let paths = destinationsOf.get(type);
  if (!paths) {
    paths = collect(z.toJSONSchema(type.config, { io: 'input', unrepresentable: 'any' }), [], (s) => s.format === 'uri' && s.writeOnly !== true);
    destinationsOf.set(type, paths);
  }
  return paths;
}

/** The destination fields (see `destinationPaths`) whose value differs between two configs, as JSON pointers. */
export function changedDestinations(type: PluginType | undefined, next: unknown, stored: unknown): string[] {
  const changed = new Set<string>();
  for (const path of destinationPaths(type)) {
    for (const at of [...locate(next, path), ...locate(stored, path)]) {
      if (getAt(next, at) !== getAt(stored, at)) changed.add(pointerOf(at));
    }
  }
  return [...changed];
}

function collect(schema: unknown, at: string[], pick: (schema: Record<string, unknown>) => boolean = (s) => s.writeOnly === true): Path[] {
  if (!isRecord(schema)) return [];
  if (pick(schema)) return [at];
  const found: Path[] = [];
  if (isRecord(schema.properties)) for (const [key, inner] of Object.entries(schema.properties)) found.push(...collect(inner, [...at, key], pick));
  if (isRecord(schema.patternProperties)) for (const inner of Object.values(schema.patternProperties)) found.push(...collect(inner, [...at, ANY], pick));
  found.push(...collect(schema.additionalProperties, [...at, ANY], pick), ...collect(schema.items, [...at, ANY], pick));
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches)) for (const inner of branches) found.push(...collect(inner, at, pick));
  }
  return found;
}

/** Concrete key paths in `value` that match `path` and hold something. */
function locate(value: unknown, path: Path, depth = 0, at: string[] = []): string[][] {
  if (depth === path.length) return value === undefined ? [] : [at];
  if (!isRecord(value)) return [];
  const segment = path[depth]!;
  const keys = segment === ANY ? Object.keys(value) : Object.hasOwn(value, segment) ? [segment] : [];
  return keys.flatMap((key) => locate(value[key], path, depth + 1, [...at, key]));
}

function secretsIn(type: PluginType | undefined, config: unknown): string[][] {
  const seen = new Set<string>();
  return secretPaths(type)
    .flatMap((path) => locate(config, path))
    .filter((at) => {
      const id = JSON.stringify(at);
      return seen.has(id) ? false : (seen.add(id), true);
    });
}

function getAt(root: unknown, at: readonly string[]): unknown {
  let value = root;
  for (const key of at) value = isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
  return value;
}

function setAt(root: unknown, at: readonly string[], value: unknown): void {
  const holder = getAt(root, at.slice(0, -1));
  // defined, not assigned: a record key such as `__proto__` stays an own property
  if (isRecord(holder)) Object.defineProperty(holder, at.at(-1)!, { value, writable: true, enumerable: true, configurable: true });
}

const pointerOf = (at: readonly string[]) => at.map((key) => `/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');

/** A copy of the config for reading: every secret value, sealed or not, is `SECRET_MARKER`. */
export function maskSecrets<C>(type: PluginType | undefined, config: C): C {
  const places = secretsIn(type, config);
  if (places.length === 0) return config;
  const copy = structuredClone(config);
  for (const at of places) setAt(copy, at, SECRET_MARKER);
  return copy;
}

/** True when a stored config still holds a secret in plain text (a row written before sealing). */
export function hasPlainSecrets(type: PluginType | undefined, config: unknown): boolean {
  return secretsIn(type, config).some((at) => typeof getAt(config, at) === 'string');
}

/** A copy of a validated config for storage: every plain secret value sealed with `encryptionKey`. */
export async function sealSecrets<C>(encryptionKey: string, type: PluginType | undefined, config: C): Promise<C> {
  const places = secretsIn(type, config).filter((at) => typeof getAt(config, at) === 'string');
  if (places.length === 0) return config;
  const copy = structuredClone(config);
  await Promise.all(places.map(async (at) => setAt(copy, at, { [SEALED]: await seal(encryptionKey, getAt(config, at) as string) })));
  return copy;
}

// Opened values by ciphertext. Every seal has a fresh IV, so a ciphertext names one value exactly; a
// config loaded again (every delivery loads its own) costs no AES once its secrets were opened here.
const opened = new Map<string, string>();
const MAX_OPENED = 2_000;

async function openOnce(encryptionKey: string, ciphertext: string): Promise<string> {
  const hit = opened.get(ciphertext);
  if (hit !== undefined) return hit;
  const plain = await open(encryptionKey, ciphertext);
  if (opened.size >= MAX_OPENED) opened.delete(opened.keys().next().value!);
  opened.set(ciphertext, plain);
  return plain;
}

/**
 * A copy of a stored config with its secrets in plain text, for hooks and for checks that need the
 * real value. Throws when a sealed value cannot be opened (a wrong `ENCRYPTION_KEY` is an
 * infrastructure fault, handled as the signing secrets' are).
 */
export async function openSecrets<C>(encryptionKey: string, type: PluginType | undefined, config: C): Promise<C> {
  const places = secretsIn(type, config).filter((at) => isSealed(getAt(config, at)));
  if (places.length === 0) return config;
  const copy = structuredClone(config);
  await Promise.all(places.map(async (at) => setAt(copy, at, await openOnce(encryptionKey, (getAt(config, at) as Sealed)[SEALED]))));
  return copy;
}

/**
 * Replaces each `SECRET_MARKER` at a secret path of an incoming config with the value `stored` (an
 * opened config, or undefined when there is none) has at the same path. Problems point into the
 * incoming config; none means every marker found its value.
 */
export function keepStoredSecrets(
  type: PluginType | undefined,
  incoming: unknown,
  stored: unknown,
): { config: unknown; problems: FieldProblem[]; kept: string[] } {
  const places = secretsIn(type, incoming).filter((at) => getAt(incoming, at) === SECRET_MARKER);
  if (places.length === 0) return { config: incoming, problems: [], kept: [] };
  const config = structuredClone(incoming);
  const problems: FieldProblem[] = [];
  for (const at of places) {
    const kept = getAt(stored, at);
    if (typeof kept === 'string') setAt(config, at, kept);
    else problems.push({ pointer: pointerOf(at), detail: `"${SECRET_MARKER}" keeps the stored secret, and none is stored here; send the value` });
  }
  return { config, problems, kept: places.map(pointerOf) };
}

/**
 * SQL/JSON paths that find a plain string at a secret path of each type's stored config (one per type
 * and path), so a sweep can ask the database for the rows written before sealing.
 */
export function plainSecretProbes(types: readonly (PluginType | undefined)[]): { type: string; jsonPath: string }[] {
  return types.flatMap((type) =>
    secretPaths(type).map((path) => ({
      type: type!.id,
      jsonPath: `$${path.map((key) => (key === ANY ? '.*' : `."${key.replace(/["\\]/g, '\\$&')}"`)).join('')} ? (@.type() == "string")`,
    })),
  );
}
