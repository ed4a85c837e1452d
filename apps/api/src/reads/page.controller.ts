import { randomBytes } from 'node:crypto';
import { Controller, Get, Header, Inject, Param, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { mintToken } from '@doubletap/auth';
import { SETTINGS, type Settings } from '@doubletap/config';
import { isValidId } from '@doubletap/events';
import { ProblemException } from '../http/problem';
import { invalidId } from './read-side.service';
import type { DevToken } from './reads.dto';
import { PAGE_HTML } from './page/page.html';

const DEV_TOKEN_TTL_SECONDS = 3600;

/** The live post page, and (outside production) a dev identity for it. */
@ApiExcludeController()
@Controller()
export class PageController {
  constructor(@Inject(SETTINGS) private readonly settings: Settings) {}

  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  home(@Query('post') post?: string): string {
    if (post !== undefined && !isValidId(post)) throw invalidId('post', post);
    return PAGE_HTML;
  }

  @Get('p/:postId')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  post(@Param('postId') postId: string): string {
    if (!isValidId(postId)) throw invalidId('postId', postId);
    return PAGE_HTML;
  }

  /**
   * A short-lived token for a guest (or `?user=<id>`) signed with the configured HS256 secret, so
   * the page works locally without an identity provider. Not served when NODE_ENV=production.
   */
  @Get('dev/token')
  @Header('cache-control', 'no-store')
  async devToken(@Query('user') user?: string): Promise<DevToken> {
    if (this.settings.env === 'production')
      throw new ProblemException(404, 'not-found', 'dev tokens are not available in production');
    const userId = user ?? `guest-${randomBytes(3).toString('hex')}`;
    if (!isValidId(userId)) throw invalidId('user', userId);
    const { hs256Secret, issuer, audience } = this.settings.auth;
    const token = await mintToken(hs256Secret, userId, {
      ttlSeconds: DEV_TOKEN_TTL_SECONDS,
      issuer,
      audience,
    });
    return { userId, token, expiresInSeconds: DEV_TOKEN_TTL_SECONDS };
  }
}
