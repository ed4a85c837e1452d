import { ApiProperty } from '@nestjs/swagger';
import type { LikeAction } from '@doubletap/events';

export class LikeAccepted {
  @ApiProperty({
    description: 'UUIDv7 of the LikeEvent written to Kafka',
    example: '01890a5d-ac96-774b-bcce-b302099a8057',
  })
  eventId!: string;

  @ApiProperty({ pattern: '^[A-Za-z0-9_-]{1,64}$', example: 'post_1' })
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

export class ProblemDto {
  @ApiProperty({ example: 'https://doubletap.dev/problems/rate-limited' }) type!: string;
  @ApiProperty({ example: 'Too Many Requests' }) title!: string;
  @ApiProperty({ example: 429 }) status!: number;
  @ApiProperty({
    example: 'user u1 exceeded the rate limit of 20 actions per second (burst 40); retry in 1s',
  })
  detail!: string;
  @ApiProperty({ required: false, example: '/v1/posts/post_1/likes' }) instance?: string;
}
