/**
 * The pieces the schema comparison (`compat.ts`) works on. A schema document is parsed into a private
 * copy whose `$ref`s are resolved inside the document (the same resolution the validator uses), and
 * a subschema is seen as a list of *parts* that must all hold: `$ref` targets and `allOf` members are
 * flattened into that list, so `{allOf: [{$ref: "#/$defs/base"}, {required: ["id"]}]}` is two parts.
 */
import { dereference, type Schema, type SchemaDraft, validate } from '@cfworker/json-schema';
import { draftOf } from './compile';
import { compileSchemaPatterns, runBounded } from './patterns';

export type Node = Schema | boolean;

/** A subschema in its document: `loc` is its JSON pointer there; `done` names in-place keywords already taken apart. */
export interface Part {
  node: Node;
  loc: string;
  done?: string;
}

export interface SchemaDoc {
  root: Node;
  draft: SchemaDraft;
  lookup: Record<string, Node>;
  locations: WeakMap<object, string>;
  /** True when `value` is valid against `node` (a subschema of this document); false also when that cannot be told in budget. */
  accepts(node: Node, value: unknown): boolean;
}

/** `$ref` hops followed in a row before a chain is given up on as unprovable. */
export const MAX_REF_HOPS = 32;

const escapePointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1');

export function prepareDoc(schema: unknown): SchemaDoc {
  const root = JSON.parse(JSON.stringify(schema)) as Node;
  const draft = draftOf(root, undefined);
  const lookup = dereference(root);
  const locations = new WeakMap<object, string>();
  const pending: Array<[unknown, string]> = [[root, '']];
  while (pending.length > 0) {
    const [current, at] = pending.pop()!;
    if (!current || typeof current !== 'object' || locations.has(current)) continue;
    locations.set(current, at);
    for (const [key, value] of Object.entries(current)) if (value && typeof value === 'object') pending.push([value, `${at}/${escapePointer(key)}`]);
  }
  // built after the walk: it edits the copy (meters each subschema, drops unknown formats)
  const patterns = compileSchemaPatterns(root);
  const accepts = (node: Node, value: unknown) => {
    if (!patterns.ok) return false;
    const result = runBounded(patterns.matchers, () => validate(value, node, draft, lookup, true).valid);
    return result.ok && result.value;
  };
  return { root, draft, lookup, locations, accepts };
}

export const locOf = (doc: SchemaDoc, node: Node, fallback: string) => (typeof node === 'object' ? (doc.locations.get(node) ?? fallback) : fallback);

/** The schema a `$ref` (or `$recursiveRef: "#"`) of `node` names, or undefined. */
function target(doc: SchemaDoc, node: Schema): Node | undefined {
  const ref: unknown = node.__absolute_ref__;
  if (typeof ref === 'string') return doc.lookup[ref];
  if (node.$recursiveRef === '#') return doc.root;
  return undefined;
}

/**
 * `parts` with every `$ref` and `allOf` taken apart into parts of their own. Null when a `$ref`
 * chain is longer than MAX_REF_HOPS (a `$ref` that leads back to itself without a keyword between).
 */
export function expand(doc: SchemaDoc, parts: readonly Part[]): Part[] | null {
  const out: Part[] = [];
  // a stack, filled in reverse so that parts come out in the order given
  const pending: Array<Part & { hops: number }> = parts.map((p) => ({ ...p, hops: 0 })).reverse();
  const seen = new Set<unknown>();
  while (pending.length > 0) {
    const part = pending.pop()!;
    const { node } = part;
    // `true` adds nothing, and a subschema reached twice holds once
    if (node === true || (typeof node === 'object' && seen.has(node) && !part.done)) continue;
    if (typeof node === 'object' && !part.done) seen.add(node);
    out.push(part);
    if (typeof node !== 'object') continue;
    const next = target(doc, node);
    if (next !== undefined) {
      if (part.hops >= MAX_REF_HOPS) return null;
      pending.push({ node: next, loc: locOf(doc, next, part.loc), hops: part.hops + 1 });
    }
    if (Array.isArray(node.allOf)) {
      const members = (node.allOf as Node[]).map((sub, i) => ({ node: sub, loc: locOf(doc, sub, `${part.loc}/allOf/${i}`), hops: part.hops }));
      pending.push(...members.reverse());
    }
  }
  return out;
}

/** A keyword's value on a part (undefined on a boolean part, or once the keyword was taken apart). */
export function kw(part: Part, key: string): unknown {
  if (typeof part.node !== 'object' || part.done?.split(',').includes(key)) return undefined;
  return (part.node as Record<string, unknown>)[key];
}

/** A child subschema as a part: `node[key]` or `node[key][index]`, located in the document. */
export function child(doc: SchemaDoc, part: Part, path: Array<string | number>, fallback: Node = true): Part {
  let value: unknown = part.node;
  for (const step of path) value = value && typeof value === 'object' ? (value as Record<string | number, unknown>)[step] : undefined;
  const node = value === undefined ? fallback : (value as Node);
  const loc = `${part.loc}/${path.map((p) => escapePointer(String(p))).join('/')}`;
  return { node, loc: locOf(doc, node, loc) };
}

export const ALL_TYPES = ['array', 'boolean', 'integer', 'null', 'number', 'object', 'string'] as const;

/** The types a part allows, `integer` standing for itself (a `number` allows it too). */
export function typesOf(part: Part): Set<string> {
  const type = kw(part, 'type');
  if (typeof type === 'string') return new Set([type]);
  if (Array.isArray(type)) return new Set(type.filter((t): t is string => typeof t === 'string'));
  return new Set(ALL_TYPES);
}

/** Types all `parts` allow together (`integer` survives a part that allows `number`). */
export function intersectTypes(parts: readonly Part[]): Set<string> {
  let kept = new Set<string>(ALL_TYPES);
  for (const part of parts) {
    const allowed = typesOf(part);
    kept = new Set([...kept].filter((t) => allowed.has(t) || (t === 'integer' && allowed.has('number'))));
  }
  return kept;
}

export type Bound = { value: number; exclusive: boolean };

/** The tightest lower (`min`) or upper (`max`) numeric bound of one part, draft 4's boolean exclusives included. */
export function numericBound(part: Part, side: 'min' | 'max'): Bound | undefined {
  const inclusive = kw(part, side === 'min' ? 'minimum' : 'maximum');
  const exclusive = kw(part, side === 'min' ? 'exclusiveMinimum' : 'exclusiveMaximum');
  const bounds: Bound[] = [];
  if (typeof inclusive === 'number') bounds.push({ value: inclusive, exclusive: exclusive === true });
  if (typeof exclusive === 'number') bounds.push({ value: exclusive, exclusive: true });
  return tightest(bounds, side);
}

export function tightest(bounds: readonly (Bound | undefined)[], side: 'min' | 'max'): Bound | undefined {
  let best: Bound | undefined;
  for (const b of bounds) {
    if (!b) continue;
    const tighter = !best || (side === 'min' ? b.value > best.value : b.value < best.value) || (b.value === best.value && b.exclusive);
    if (tighter) best = b;
  }
  return best;
}

/** True when `narrow` is at least as tight as `wide` (no bound is the loosest). */
export function within(narrow: Bound | undefined, wide: Bound | undefined, side: 'min' | 'max'): boolean {
  if (!wide) return true;
  if (!narrow) return false;
  if (narrow.value !== wide.value) return side === 'min' ? narrow.value > wide.value : narrow.value < wide.value;
  return narrow.exclusive || !wide.exclusive;
}

/** `draft` 4 to 2019-09 write a tuple as `items: [...]` (the rest in `additionalItems`); 2020-12 as `prefixItems` (the rest in `items`). */
export function itemAt(doc: SchemaDoc, part: Part, index: number | 'rest'): Part {
  const items = kw(part, 'items');
  if (Array.isArray(items)) {
    if (index !== 'rest' && index < items.length) return child(doc, part, ['items', index]);
    return child(doc, part, ['additionalItems']);
  }
  const prefix = kw(part, 'prefixItems');
  if (index !== 'rest' && Array.isArray(prefix) && index < prefix.length) return child(doc, part, ['prefixItems', index]);
  return child(doc, part, ['items']);
}

export function prefixLength(part: Part): number {
  const items = kw(part, 'items');
  if (Array.isArray(items)) return items.length;
  const prefix = kw(part, 'prefixItems');
  return Array.isArray(prefix) ? prefix.length : 0;
}

export const hasRef = (value: unknown) => JSON.stringify(value ?? null).includes('"$ref"');
