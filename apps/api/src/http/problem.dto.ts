import { ApiProperty, ApiResponse } from '@nestjs/swagger';

/** The problem+json body (RFC 9457) as OpenAPI shows it; the type is one of PROBLEM_TYPES. */
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

/** OpenAPI: the route answers these statuses with a problem+json body. */
export function ApiProblems(codes: number[]): MethodDecorator {
  return (target, key, descriptor) => {
    for (const status of codes)
      ApiResponse({ status, type: ProblemDto, description: 'application/problem+json (RFC 9457)' })(
        target,
        key,
        descriptor,
      );
  };
}
