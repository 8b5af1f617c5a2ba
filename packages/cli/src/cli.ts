/**
 * The command runner around citty: `--help` on every command (to stdout, exit 0), unknown commands
 * and options refused with exit 2 (citty alone accepts any option), and every `CliError` printed
 * once with its exit code. With `--json`, a failure also prints `{"error": …}` on stdout, so a
 * script reading stdout always gets one JSON document.
 */
import { type ArgsDef, type CommandDef, renderUsage, runCommand } from 'citty';
import { CliError, EXIT, usageError } from './errors.ts';
import { note, printJson } from './output.ts';

// biome-ignore lint/suspicious/noExplicitAny: citty's sub-command maps are heterogeneous
type AnyCommand = CommandDef<any>;

export const jsonArg = {
  json: { type: 'boolean', description: 'machine output: one JSON document (NDJSON for streams)' },
} as const satisfies ArgsDef;

export const tenantArg = {
  tenant: { type: 'string', description: 'tenant id (tn_…); defaults to the tenant of a tenant token', valueHint: 'tn_…' },
} as const satisfies ArgsDef;

interface Resolved {
  command: AnyCommand;
  /** argv after the command path. */
  rest: string[];
}

async function resolve<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === 'function' ? await (value as () => T | Promise<T>)() : await value;
}

/** Follows positional words down the sub-commands as far as they go. */
async function resolveCommand(root: AnyCommand, argv: string[]): Promise<Resolved> {
  let command = root;
  let rest = argv;
  for (;;) {
    const subCommands = command.subCommands ? await resolve(command.subCommands) : undefined;
    const index = rest.findIndex((arg) => !arg.startsWith('-'));
    const name = index === -1 ? undefined : rest[index];
    if (!subCommands || name === undefined) return { command, rest };
    if (index !== 0) throw usageError(`error: unexpected ${rest[0]} before the command ${name}`);
    const next = subCommands[name];
    if (!next) throw usageError(`error: unknown command ${name}`);
    command = await resolve(next);
    rest = rest.slice(1);
  }
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** Exit 2 for an option the command does not declare, instead of ignoring it silently. */
function checkOptions(args: ArgsDef, argv: string[]): void {
  const known = new Map<string, 'boolean' | 'string'>([
    ['help', 'boolean'],
    ['h', 'boolean'],
  ]);
  for (const [name, def] of Object.entries(args)) {
    if (def.type === 'positional') continue;
    const kind = def.type === 'boolean' ? 'boolean' : 'string';
    const alias = 'alias' in def ? def.alias : undefined;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    for (const alias of [name, kebab(name), ...aliases]) {
      known.set(alias, kind);
      if (kind === 'boolean') known.set(`no-${alias}`, kind);
    }
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') return;
    if (!arg.startsWith('-') || arg === '-') continue;
    const [name = '', inline] = arg.replace(/^--?/, '').split(/=(.*)/s);
    const kind = known.get(name);
    if (!kind) throw usageError(`error: unknown option ${arg.split('=')[0]}`);
    if (kind === 'string' && inline === undefined) {
      const value = argv[i + 1];
      if (value === undefined) throw usageError(`error: ${arg} needs a value`);
      i++;
    }
  }
}

/** Runs the CLI and returns the exit code (the bin calls `process.exit` with it). */
export async function runCli(root: AnyCommand, argv: string[]): Promise<number> {
  const json = argv.includes('--json');
  let resolved: Resolved | undefined;
  try {
    const end = argv.indexOf('--');
    const flags = end === -1 ? argv : argv.slice(0, end);
    resolved = await resolveCommand(root, argv);
    if (flags.includes('--help') || flags.includes('-h')) {
      process.stdout.write(`${await renderUsage(resolved.command)}\n`);
      return EXIT.ok;
    }
    if (!resolved.command.run) {
      process.stderr.write(`${await renderUsage(resolved.command)}\n`);
      throw usageError('error: a command is missing');
    }
    checkOptions(await resolve(resolved.command.args ?? {}), resolved.rest);
    await runCommand(resolved.command, { rawArgs: resolved.rest });
    return EXIT.ok;
  } catch (error) {
    const failure = toCliError(error);
    note(failure.message);
    if (failure.exitCode === EXIT.usage && resolved) note(`see: ${(await resolve(resolved.command.meta ?? {}))?.name ?? 'switchyard'} --help`);
    if (json && !failure.reported)
      printJson({ error: { message: failure.message, exit_code: failure.exitCode, ...(failure.problem ? { problem: failure.problem } : {}) } });
    return failure.exitCode;
  }
}

function toCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  // citty's own argument errors (missing required flag or positional, bad enum value)
  if (error instanceof Error && error.name === 'CLIError') return usageError(`error: ${stripAnsi(error.message)}`);
  throw error;
}

function stripAnsi(text: string): string {
  // the ANSI colour codes citty adds
  return text.replace(/\u001b\[[0-9;]*m/g, '');
}
