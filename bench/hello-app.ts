/**
 * The baseline of bench/ingest.ts: a NestJS-on-Fastify hello-world endpoint (POST /hello → 202
 * JSON), same framework and adapter as the api, no auth, no Kafka. Listens on BENCH_HELLO_PORT.
 */
import 'reflect-metadata';
import { Controller, HttpCode, Module, Post } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';

@Controller()
class HelloController {
  @Post('hello')
  @HttpCode(202)
  hello(): { hello: string } {
    return { hello: 'world' };
  }
}

@Module({ controllers: [HelloController] })
class HelloModule {}

async function main(): Promise<void> {
  const app = await NestFactory.create<NestFastifyApplication>(HelloModule, new FastifyAdapter(), {
    logger: false,
  });
  app.enableShutdownHooks(['SIGTERM']);
  await app.listen(Number(process.env.BENCH_HELLO_PORT ?? 0), '127.0.0.1');
}

main().catch((e: unknown) => {
  process.stderr.write(`hello: ${String(e)}\n`);
  process.exit(1);
});
