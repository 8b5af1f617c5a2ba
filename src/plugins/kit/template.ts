/**
 * Message templates for chat actions: `{{type}}`, `{{subject}}`, `{{id}}`, `{{data.order.id}}`, any
 * CloudEvent attribute or extension, dotted paths into `data` (array indexes too: `{{data.items.0}}`).
 * A missing value renders as nothing, an object as JSON. `escapeText` applies to substituted values only,
 * so a template may carry the destination's own markup while event data cannot inject any.
 */
import type { PluginEvent } from '../types';

const PLACEHOLDER = /\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}/g;

/**
 * The longest rendering: past it the rest of the template is not expanded (callers then cut to their
 * service's own limit). Without it, a 4,000-character template of `{{data}}` over 1 MiB of data would
 * build a 500 MB string in the delivery consumer, whose batch holds other tenants' deliveries.
 */
export const MAX_RENDERED_LENGTH = 100_000;

export function renderTemplate(
  template: string,
  event: PluginEvent,
  escapeText: (text: string) => string = (text) => text,
  maxLength = MAX_RENDERED_LENGTH,
): string {
  let out = '';
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    out += template.slice(last, match.index);
    last = match.index + match[0].length;
    if (out.length >= maxLength) break;
    // cut before escaping, so an escape sequence is never split
    out += escapeText(display(lookup(event, match[1]!.split('.'))).slice(0, maxLength - out.length));
  }
  if (out.length < maxLength) out += template.slice(last);
  return out.length > maxLength ? out.slice(0, maxLength) : out;
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
