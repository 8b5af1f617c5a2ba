#!/usr/bin/env node
// colours only on a terminal; citty reads NO_COLOR when it is first imported
if (!process.stdout.isTTY) process.env.NO_COLOR ??= '1';
// `switchyard tail | head`: the reader went away, which is not an error
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const { runCli } = await import('../src/cli.ts');
const { root } = await import('../src/main.ts');
process.exitCode = await runCli(root, process.argv.slice(2));
