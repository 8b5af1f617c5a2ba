/** The `switchyard` command tree. */
import { defineCommand } from 'citty';
import { login, logout, whoami } from './commands/auth.ts';
import { deliveries, events, replay } from './commands/events.ts';
import { listen } from './commands/listen.ts';
import { sources, subscriptions, tenants } from './commands/resources.ts';
import { send } from './commands/send.ts';
import { tail } from './commands/tail.ts';
import { trigger } from './commands/trigger.ts';
import { types } from './commands/types.ts';
import { verify } from './commands/verify.ts';

export const root = defineCommand({
  meta: {
    name: 'switchyard',
    version: '0.1.0',
    description:
      'Switchyard from the terminal: listen, tail, send, trigger, manage. Exit codes: 0 ok, 1 refused by the API / invalid, 2 usage, 3 not logged in or token refused, 4 runtime unreachable',
  },
  subCommands: {
    login,
    logout,
    whoami,
    listen,
    tail,
    send,
    trigger,
    events,
    deliveries,
    replay,
    tenants,
    sources,
    subscriptions,
    verify,
    types,
  },
});
