import { type DynamicModule, Module } from '@nestjs/common';
import { devTokenEnabled, type Settings } from '@doubletap/config';
import { DevTokenController } from './dev-token.controller';

/**
 * The dev token route, registered only when devTokenEnabled(settings) (development, loopback).
 * Elsewhere the route does not exist at all: /dev/token is a 404 like any unknown path, rather
 * than a route that checks a flag on every call and could be switched on by mistake.
 */
@Module({})
export class DevTokenModule {
  static register(settings: Settings): DynamicModule {
    return { module: DevTokenModule, controllers: devTokenEnabled(settings) ? [DevTokenController] : [] };
  }
}
