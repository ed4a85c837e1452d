import { Command } from 'commander';
import { registerChaos } from './commands/chaos.command';
import { registerLag } from './commands/lag.command';
import { registerRebuild } from './commands/rebuild.command';
import { registerSchemas } from './commands/schemas.command';
import { registerLoad } from './commands/load.command';
import { registerSetup } from './commands/setup.command';
import { registerStack } from './commands/stack.command';
import { registerToken } from './commands/token.command';
import { registerTopics } from './commands/topics.command';
import { registerVerify } from './commands/verify.command';

const program = new Command('doubletap')
  .description('doubletap operator CLI: local stack, topics and schemas, tokens, rebuild, verify, lag, load, chaos')
  .showHelpAfterError()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

registerStack(program);
registerSetup(program);
registerTopics(program);
registerSchemas(program);
registerRebuild(program);
registerVerify(program);
registerLag(program);
registerToken(program);
registerLoad(program);
registerChaos(program);

program.parseAsync(process.argv).catch((e: unknown) => {
  process.stderr.write(`doubletap: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exitCode = 1;
});
