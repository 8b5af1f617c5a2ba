#!/usr/bin/env node
// colours only on a terminal; citty reads NO_COLOR when it is first imported
if (!process.stdout.isTTY) process.env.NO_COLOR ??= '1';
const { runCli } = await import('../src/cli.ts');
const { root } = await import('../src/main.ts');
process.exitCode = await runCli(root, process.argv.slice(2));
