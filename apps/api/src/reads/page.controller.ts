import { Controller, Get, Header, Param, Query } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import { IdPipe } from '../http/id.pipe';
import { PAGE_HTML } from './page/page.html';

/** The live post page (its dev identity, where there is one, is DevTokenModule's /dev/token). */
@ApiExcludeController()
@Controller()
export class PageController {
  @Get()
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  home(@Query('post', IdPipe) _post?: string): string {
    return PAGE_HTML;
  }

  @Get('p/:postId')
  @Header('content-type', 'text/html; charset=utf-8')
  @Header('cache-control', 'no-cache')
  post(@Param('postId', IdPipe) _postId: string): string {
    return PAGE_HTML;
  }
}
