// `node --import ./test/helpers/ts-child/register.mjs child.ts`: lets a child process run the
// TypeScript sources (lib/ and test/ helpers) as they are, without a build. Node 20 cannot
// import .ts itself; the hooks transpile each file with SWC (as vitest does), about a
// millisecond a file, so a child is up in well under a second.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
