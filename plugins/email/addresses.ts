/**
 * Email addresses in the `email` action's config: fixed addresses, checked when the config is set, or
 * one placeholder (`{{data.customer.email}}`) rendered per event and checked before anything is sent.
 */
import { z } from 'zod';
import { renderTemplate } from '../../src/plugins/kit';
import type { PluginEvent } from '../../src/plugins/types';

// addr-spec without quoted local parts or IP literals: what providers accept in practice
const ADDRESS = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$/;
const PLACEHOLDER = /^\{\{\s*[A-Za-z_][\w-]*(?:\.[\w-]+)*\s*\}\}$/;
const MAILBOX = /^\s*([^<>"\r\n]{1,200}?)\s*<([^<>\s]+)>\s*$/;

export const isAddress = (text: string): boolean => text.length <= 254 && ADDRESS.test(text);

export const address = z.string().max(254).refine(isAddress, 'not an email address (name@example.com)');

/** A recipient: an address, or a single `{{path}}` placeholder that must render to one. */
export const recipient = z
  .string()
  .max(254)
  .refine((text) => isAddress(text) || PLACEHOLDER.test(text), 'not an email address (name@example.com) or a single {{placeholder}}');

/** The sender: `name@example.com` or `Display Name <name@example.com>`. */
export const sender = z
  .string()
  .max(320)
  .refine((text) => parseSender(text) !== null, 'not an email address (name@example.com or Name <name@example.com>)');

export function parseSender(text: string): { email: string; name?: string } | null {
  if (isAddress(text)) return { email: text };
  const match = MAILBOX.exec(text);
  return match && isAddress(match[2]!) ? { name: match[1]!, email: match[2]! } : null;
}

/** The event's recipients, or the first that is not an address (an event without the field, say). */
export function renderRecipients(list: readonly string[] | undefined, event: PluginEvent): { ok: true; addresses: string[] } | { ok: false; problem: string } {
  const addresses: string[] = [];
  for (const entry of list ?? []) {
    const rendered = isAddress(entry) ? entry : renderTemplate(entry, event).trim();
    if (!isAddress(rendered)) return { ok: false, problem: `${entry} rendered to ${JSON.stringify(rendered.slice(0, 100))}, which is not an email address` };
    if (!addresses.includes(rendered)) addresses.push(rendered);
  }
  return { ok: true, addresses };
}
