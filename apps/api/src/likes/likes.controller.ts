import { Body, Controller, Delete, HttpCode, Param, Post, UseGuards } from '@nestjs/common';
import {
  ApiAcceptedResponse,
  ApiBearerAuth,
  ApiOperation,
  ApiParam,
  ApiResponse,
  ApiTags,
} from '@nestjs/swagger';
import type { Viewer } from '@doubletap/auth';
import { BearerGuard, CurrentViewer } from '../auth/bearer.guard';
import { LikeAccepted, ProblemDto } from './like-accepted.dto';
import { LikesService } from './likes.service';

const problems = (codes: number[]) =>
  codes.map((status) =>
    ApiResponse({ status, type: ProblemDto, description: 'application/problem+json (RFC 9457)' }),
  );

function ApiProblems(codes: number[]): MethodDecorator {
  return (target, key, descriptor) => {
    for (const d of problems(codes)) d(target, key, descriptor);
  };
}

@ApiTags('likes')
@ApiBearerAuth()
@ApiParam({ name: 'postId', schema: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } })
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
    @Param('postId') postId: string,
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
    @Param('postId') postId: string,
    @CurrentViewer() viewer: Viewer,
    @Body() body: unknown,
  ): Promise<LikeAccepted> {
    return this.likes.accept('UNLIKE', postId, viewer.userId, body);
  }
}
