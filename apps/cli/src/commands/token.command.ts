import type { Command } from 'commander';
import { mintToken } from '@doubletap/auth';
import { loadSettings } from '@doubletap/config';
import { ID_PATTERN } from '@doubletap/events';
import { output, run } from '../output';

/** `doubletap token --user U`: an HS256 bearer token signed with the configured JWT_SECRET. */
export function registerToken(program: Command): void {
  program
    .command('token')
    .description(
      'mint an HS256 bearer token for a user with the configured JWT_SECRET (local use, load tests)',
    )
    .requiredOption('--user <id>', 'the user id (the token sub), ^[A-Za-z0-9_-]{1,64}$')
    .option('--ttl <seconds>', 'lifetime in seconds', '3600')
    .option('--json', 'print one JSON document')
    .action((opts: { user: string; ttl: string; json?: boolean }) =>
      run(async () => {
        const out = output(Boolean(opts.json));
        const ttl = Number(opts.ttl);
        if (!Number.isInteger(ttl) || ttl < 1)
          throw new Error(`--ttl ${opts.ttl} is not a positive whole number of seconds`);
        if (!ID_PATTERN.test(opts.user))
          throw new Error(`--user ${opts.user} does not match ^[A-Za-z0-9_-]{1,64}$`);
        const { auth } = loadSettings();
        const token = await mintToken(auth.hs256Secret, opts.user, {
          ttlSeconds: ttl,
          issuer: auth.issuer,
          audience: auth.audience,
        });
        const expiresAt = new Date(Date.now() + ttl * 1000).toISOString();
        out.result({ token, userId: opts.user, expiresAt }, () => token);
      }),
    );
}
