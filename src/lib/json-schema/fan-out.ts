/**
 * How many subschemas a schema can evaluate against one place in the data. Keywords that stay on the
 * same value (`allOf`, `anyOf`, `oneOf`, `not`, `if`/`then`/`else`, `dependentSchemas`,
 * `dependencies`, `$ref`, `$recursiveRef`) multiply: thirty levels of `allOf: [{$ref: next},
 * {$ref: next}]` is 2³⁰ evaluations for every value, which no per-event budget makes cheap enough
 * for a batch of a thousand events. Keywords that descend into the data (`properties`, `items`, …)
 * are bounded by the data itself and start a count of their own.
 *
 * Counted at registration with memoisation (linear in the schema), so such a schema is refused
 * before it can cost anything; a chain of in-place keywords that leads back to where it started
 * would recurse without end and is refused too.
 */
import type { Schema } from '@cfworker/json-schema';

/** Subschemas one value may be evaluated against, through in-place keywords alone. */
export const MAX_IN_PLACE_FAN_OUT = 1_000;

const IN_PLACE_LISTS = ['allOf', 'anyOf', 'oneOf'] as const;
const IN_PLACE_SINGLE = ['not', 'if', 'then', 'else'] as const;
const IN_PLACE_MAPS = ['dependentSchemas', 'dependencies'] as const;

type Node = Schema | boolean;
export type FanOutProblem = { error: string; pointer: string };

/** The first subschema past the limit, or a cycle of in-place keywords; undefined when the schema is fine. */
export function inPlaceFanOutProblem(root: Node, lookup: Record<string, Node>): FanOutProblem | undefined {
  const counts = new Map<object, number>();
  const onPath = new Set<object>();
  // where each subschema sits in the document, which is what a problem names
  const locations = new Map<object, string>();
  const pending: Array<[unknown, string]> = [[root, '']];
  while (pending.length > 0) {
    const [current, at] = pending.pop()!;
    if (!current || typeof current !== 'object' || locations.has(current)) continue;
    locations.set(current, at);
    for (const [key, value] of Object.entries(current)) {
      if (value && typeof value === 'object') pending.push([value, `${at}/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`]);
    }
  }
  const where = (node: object, fallback: string) => locations.get(node) ?? fallback;
  let problem: FanOutProblem | undefined;

  const inPlace = (node: Schema): Array<[Node, string]> => {
    const out: Array<[Node, string]> = [];
    for (const key of IN_PLACE_LISTS) {
      const list: unknown = node[key];
      if (Array.isArray(list)) for (const [i, sub] of list.entries()) out.push([sub as Node, `/${key}/${i}`]);
    }
    for (const key of IN_PLACE_SINGLE) if (node[key] !== undefined) out.push([node[key] as Node, `/${key}`]);
    for (const key of IN_PLACE_MAPS) {
      const map: unknown = node[key];
      // draft 7 `dependencies` also takes arrays of names, which evaluate nothing
      if (map && typeof map === 'object') for (const [name, sub] of Object.entries(map)) if (!Array.isArray(sub)) out.push([sub as Node, `/${key}/${name}`]);
    }
    const ref: unknown = node.__absolute_ref__;
    if (typeof ref === 'string' && lookup[ref] !== undefined) out.push([lookup[ref], '/$ref']);
    if (node.$recursiveRef === '#') out.push([root, '/$recursiveRef']);
    return out;
  };

  // iterative post-order, so a deep schema cannot overflow the stack
  const count = (start: Node, startPointer: string): number => {
    if (typeof start !== 'object' || start === null) return 1;
    const stack: Array<{ node: Schema; pointer: string; children: Array<[Node, string]>; next: number; sum: number }> = [];
    const enter = (node: Schema, pointer: string) => {
      onPath.add(node);
      stack.push({ node, pointer, children: inPlace(node), next: 0, sum: 1 });
    };
    enter(start, startPointer);
    let result = 1;
    while (stack.length > 0 && !problem) {
      const frame = stack[stack.length - 1]!;
      if (frame.next < frame.children.length) {
        const [child, at] = frame.children[frame.next++]!;
        if (typeof child !== 'object' || child === null) {
          frame.sum += 1;
        } else if (onPath.has(child)) {
          problem = {
            pointer: where(frame.node, frame.pointer) + at,
            error: 'this keyword leads back to a schema it is already evaluating, on the same value, without end',
          };
        } else if (counts.has(child)) {
          frame.sum += counts.get(child)!;
        } else {
          enter(child, frame.pointer + at);
        }
      } else {
        stack.pop();
        onPath.delete(frame.node);
        counts.set(frame.node, frame.sum);
        if (frame.sum > MAX_IN_PLACE_FAN_OUT) {
          problem = {
            pointer: where(frame.node, frame.pointer),
            error: `this subschema evaluates ${frame.sum > 1e9 ? 'billions of' : frame.sum} subschemas on one value through allOf/anyOf/oneOf/not/if/$ref (at most ${MAX_IN_PLACE_FAN_OUT}); refer to shared definitions once instead of repeating them`,
          };
        }
        result = frame.sum;
        const parent = stack[stack.length - 1];
        if (parent) parent.sum += frame.sum;
      }
    }
    return result;
  };

  // every subschema starts a count of its own (keywords that descend into the data begin afresh)
  for (const [node, at] of locations) {
    if (problem) break;
    if (!Array.isArray(node) && !counts.has(node)) count(node as Schema, at);
  }
  return problem;
}
