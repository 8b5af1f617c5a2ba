/**
 * Message templates for chat actions: `{{type}}`, `{{subject}}`, `{{id}}`, `{{data.order.id}}`, any
 * CloudEvent attribute or extension, dotted paths into `data` (array indexes too: `{{data.items.0}}`).
 * A missing value renders as nothing, an object as JSON. `escape` applies to substituted values only,
 * so a template may carry the destination's own markup while event data cannot inject any.
 */
import type { PluginEvent } from '../types';

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}/g;

export function renderTemplate(template: string, event: PluginEvent, escape: (text: string) => string = (text) => text): string {
  return template.replace(PLACEHOLDER, (_, path: string) => escape(display(lookup(event, path.split('.')))));
}

function lookup(value: unknown, path: string[]): unknown {
  let current = value;
  for (const key of path) {
    // own properties only: `{{constructor}}` must not reach into prototypes
    if (current === null || typeof current !== 'object' || !Object.hasOwn(current, key)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function display(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/**
 * Cuts text to at most `max` UTF-16 units, ending with an ellipsis. Counting units rather than
 * characters is the stricter reading of a chat service's limit, and never splits a surrogate pair.
 */
export function capLength(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  if (/[\uD800-\uDBFF]/.test(text.charAt(end - 1))) end--;
  return `${text.slice(0, end)}…`;
}
