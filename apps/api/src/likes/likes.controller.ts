import { Body, Controller, Delete, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { Viewer } from '@doubletap/auth';
import { ID_PATTERN } from '@doubletap/events';
import { BearerGuard, CurrentViewer } from '../auth/bearer.guard';
import { IdPipe } from '../http/id.pipe';
import { ApiProblems } from '../http/problem.dto';
import { LikeAccepted } from './likes.dto';
import { LikesService } from './likes.service';

@ApiTags('likes')
@ApiBearerAuth()
@ApiParam({ name: 'postId', schema: { type: 'string', pattern: ID_PATTERN.source } })
@Controller('v1/posts/:postId/likes')
@UseGuards(BearerGuard)
export class LikesController {
  constructor(private readonly likes: LikesService) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({ summary: 'Like a post (answered once Kafka acknowledged the LikeEvent)' })
  @ApiAcceptedResponse({ type: LikeAccepted })
  @ApiProblems([400, 401, 413, 429, 503])
  like(
    @Param('postId', IdPipe) postId: string,
    @CurrentViewer() viewer: Viewer,
    @Body() body: unknown,
  ): Promise<LikeAccepted> {
    return this.likes.accept('LIKE', postId, viewer.userId, body);
  }

  @Delete()
  @HttpCode(202)
  @ApiOperation({ summary: 'Unlike a post (answered once Kafka acknowledged the LikeEvent)' })
  @ApiAcceptedResponse({ type: LikeAccepted })
  @ApiProblems([400, 401, 413, 429, 503])
  unlike(
    @Param('postId', IdPipe) postId: string,
    @CurrentViewer() viewer: Viewer,
    @Body() body: unknown,
  ): Promise<LikeAccepted> {
    return this.likes.accept('UNLIKE', postId, viewer.userId, body);
  }
}
