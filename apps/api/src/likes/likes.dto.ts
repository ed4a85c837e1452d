import { ApiProperty } from '@nestjs/swagger';
import { ID_PATTERN, type LikeAction } from '@doubletap/events';

export class LikeAccepted {
  @ApiProperty({
    description: 'UUIDv7 of the LikeEvent written to Kafka',
    example: '01890a5d-ac96-774b-bcce-b302099a8057',
  })
  eventId!: string;

  @ApiProperty({ pattern: ID_PATTERN.source, example: 'post_1' })
  postId!: string;

  @ApiProperty({ description: 'the viewer: the sub of the bearer token', example: 'user-42' })
  userId!: string;

  @ApiProperty({ enum: ['LIKE', 'UNLIKE'] })
  action!: LikeAction;

  @ApiProperty({
    description: 'when Kafka acknowledged the event (ISO 8601)',
    example: '2025-01-01T12:00:00.000Z',
  })
  acceptedAt!: string;
}

/**
 * The 202 body of a like or unlike, built in one string: what JSON.stringify gives for a
 * LikeAccepted (same keys, same order), without walking an object. Nothing in it needs escaping:
 * postId and userId match ID_PATTERN (IdPipe, the token check), eventId is a UUID, action a name,
 * acceptedAt an ISO 8601 date (held by fast-path.unit.test.ts against the Nest route's bytes).
 */
export function postLikesAnswer(a: LikeAccepted): string {
  return `{"eventId":"${a.eventId}","postId":"${a.postId}","userId":"${a.userId}","action":"${a.action}","acceptedAt":"${a.acceptedAt}"}`;
}
