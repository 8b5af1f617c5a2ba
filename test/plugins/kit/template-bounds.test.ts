import { describe, expect, it } from 'vitest';
import { MAX_RENDERED_LENGTH, renderTemplate } from '../../../src/plugins/kit/template';
import type { PluginEvent } from '../../../src/plugins/types';

const event = (data: unknown) => ({ specversion: '1.0', id: 'e1', source: '/x', type: 'orders.created', data }) as unknown as PluginEvent;

describe('template rendering is bounded', () => {
  it('stops expanding at MAX_RENDERED_LENGTH when a template repeats {{data}} over 900 KB of data', () => {
    const started = performance.now();
    const rendered = renderTemplate('{{data}}'.repeat(500), event({ blob: 'x'.repeat(900_000) }));
    const took = performance.now() - started;
    console.log(`500 × {{data}} over 900 KB rendered to ${rendered.length} characters in ${took.toFixed(1)} ms`);
    expect(rendered.length).toBeLessThanOrEqual(MAX_RENDERED_LENGTH);
    expect(rendered.startsWith('{"blob":"xxx')).toBe(true);
  });

  it('cuts a rendering that escaping lengthens at the limit, and renders short templates whole', () => {
    const escapeHtml = (text: string) => text.replace(/&/g, '&amp;');
    const rendered = renderTemplate('a {{data.s}} b', event({ s: '&'.repeat(10) }), escapeHtml, 23);
    expect(rendered).toBe(`a ${'&amp;'.repeat(4)}&`.slice(0, 23));
    expect(renderTemplate('{{type}} for {{data.n}} ({{subject}})', event({ n: 7 }))).toBe('orders.created for 7 ()');
  });
});
