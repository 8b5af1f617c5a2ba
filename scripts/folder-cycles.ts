/**
 * Fails when the top-level folders of src/ (and plugins/ as one) depend on each other in a cycle.
 * dependency-cruiser checks module cycles and cycles between folders at each depth; this collapses
 * every module to its top-level folder first (src/plugins/kit/post.ts counts as src/plugins), so a
 * cycle through a subfolder is caught too. Files directly in src/ (index.ts) are nodes of their own.
 *
 *   node scripts/folder-cycles.ts          report cycles (exit 1) or print the folder graph
 *   node scripts/folder-cycles.ts --graph  print the folder graph as well
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface Cruised {
  modules: { source: string; dependencies: { resolved: string }[] }[];
}

const root = fileURLToPath(new URL('..', import.meta.url));
// run with this script's Node (the project's 22), not whatever `node` the bin's shebang finds
const DEPCRUISE = 'node_modules/dependency-cruiser/bin/dependency-cruiser.mjs';

function cruise(): Cruised {
  const args = ['src', 'plugins', '--output-type', 'json'];
  try {
    return JSON.parse(execFileSync(process.execPath, [DEPCRUISE, ...args], { cwd: root, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })) as Cruised;
  } catch (error) {
    // depcruise exits non-zero when a rule fails; its JSON is on stdout all the same
    const stdout = (error as { stdout?: string }).stdout;
    if (!stdout) throw error;
    return JSON.parse(stdout) as Cruised;
  }
}

/** `src/<folder>`, `plugins`, a file directly in src/, or null for what is not ours (node_modules, runtime modules). */
export function folderOf(path: string): string | null {
  const parts = path.split('/');
  if (parts[0] === 'plugins') return 'plugins';
  if (parts[0] !== 'src') return null;
  return parts.length > 2 ? `src/${parts[1]}` : path;
}

export function folderGraph(cruised: Cruised): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const module of cruised.modules) {
    const from = folderOf(module.source);
    if (!from) continue;
    const edges = graph.get(from) ?? new Map<string, string>();
    graph.set(from, edges);
    for (const { resolved } of module.dependencies) {
      const to = folderOf(resolved);
      if (to && to !== from && !edges.has(to)) edges.set(to, `${module.source} → ${resolved}`);
    }
  }
  return graph;
}

/** Strongly connected components of more than one folder (Tarjan). */
export function cycles(graph: Map<string, Map<string, string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    for (const next of graph.get(node)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (stack.includes(next)) {
        low.set(node, Math.min(low.get(node)!, index.get(next)!));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) visit(node);
  return found;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const graph = folderGraph(cruise());
  if (process.argv.includes('--graph')) {
    for (const [from, edges] of [...graph].sort(([a], [b]) => a.localeCompare(b)))
      console.log(`${from} → ${[...edges.keys()].sort().join(', ') || '(nothing)'}`);
  }
  const found = cycles(graph);
  if (found.length === 0) {
    console.log(`✔ no cycles between the ${graph.size} folders of src/ and plugins/`);
  } else {
    for (const component of found) {
      console.error(`✘ folder cycle: ${component.join(', ')}`);
      for (const from of component) {
        for (const [to, example] of graph.get(from) ?? []) if (component.includes(to)) console.error(`    ${from} → ${to}  (${example})`);
      }
    }
    process.exit(1);
  }
}
