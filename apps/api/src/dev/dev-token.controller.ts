import { randomBytes } from 'node:crypto';
import { Controller, Get, Header, Inject, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { mintToken } from '@doubletap/auth';
import { SETTINGS, type Settings } from '@doubletap/config';
import { IdPipe } from '../http/id.pipe';
import type { DevToken } from './dev-token.dto';

export const DEV_TOKEN_TTL_SECONDS = 3600;

/**
 * GET /dev/token: a short-lived token for a guest (or `?user=<id>`) signed with the configured
 * HS256 secret, so the live page works locally without an identity provider. It mints a token for
 * any user, so DevTokenModule registers it only in development on a loopback address.
 */
@ApiExcludeController()
@Controller('dev')
export class DevTokenController {
  constructor(@Inject(SETTINGS) private readonly settings: Settings) {}

  @Get('token')
  @Header('cache-control', 'no-store')
  async token(@Query('user', IdPipe) user?: string): Promise<DevToken> {
    const userId = user ?? `guest-${randomBytes(3).toString('hex')}`;
    const { hs256Secret, issuer, audience } = this.settings.auth;
    const token = await mintToken(hs256Secret, userId, {
      ttlSeconds: DEV_TOKEN_TTL_SECONDS,
      issuer,
      audience,
    });
    return { userId, token, expiresInSeconds: DEV_TOKEN_TTL_SECONDS };
  }
}
