import { ApiProperty } from '@nestjs/swagger';
import { ID_PATTERN } from '@doubletap/events';

const ID = { pattern: ID_PATTERN.source, example: 'post_1' };

export class PostCount {
  @ApiProperty(ID) postId!: string;

  @ApiProperty({ description: 'exact number of users whose last action on the post is LIKE', example: 1234 })
  count!: number;

  @ApiProperty({
    description: 'the count the way the app shows it (truncated, never rounded up)',
    example: '1,234',
  })
  display!: string;

  @ApiProperty({
    type: String,
    nullable: true,
    description: 'when the count last changed (ISO 8601); null for a post nobody has liked yet',
    example: '2026-01-01T12:00:00.000Z',
  })
  asOf!: string | null;
}

export class PostLikes extends PostCount {
  @ApiProperty({
    type: Boolean,
    nullable: true,
    description:
      "whether the viewer (bearer token sub) likes the post, from the aggregator owning the viewer's partition. " +
      'null without a token, or when the owner cannot answer now (rebalance, timeout, no owner); then the ' +
      'X-Liked-By-Viewer-Unavailable header says why. Reflects the events the aggregator has applied.',
  })
  likedByViewer!: boolean | null;
}

export class PostCounts {
  @ApiProperty({ type: [PostCount], description: 'one entry per distinct requested post, in request order' })
  posts!: PostCount[];
}
