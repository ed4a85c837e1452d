import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { isValidId } from '@doubletap/events';
import { invalidId } from './read-side.service';
import { PAGE_HTML } from './page/page.html';

/** The live post page (its dev identity, where there is one, is DevTokenModule's /dev/token). */
@ApiExcludeController()
@Controller()
export class PageController {
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
}
