import { type ArgumentMetadata, Injectable, type PipeTransform } from '@nestjs/common';
import { isValidId } from '@doubletap/events';
import { invalidId } from './problem-types';

/**
 * The one id check of the api: a post or user id in a route parameter or a query parameter must
 * match ID_PATTERN, or the request is a 400 invalid-id problem naming the parameter as the client
 * sent it (`@Param('postId', IdPipe)` → `postId "bad!id" does not match /^[A-Za-z0-9_-]{1,64}$/`).
 * An absent optional query parameter passes as undefined.
 */
@Injectable()
export class IdPipe implements PipeTransform<unknown, string | undefined> {
  transform(value: unknown, metadata: ArgumentMetadata): string | undefined {
    if (value === undefined && metadata.type === 'query') return undefined;
    return checkId(metadata.data ?? 'id', value);
  }
}

/** The check itself, for ids that come in a list (GET /v1/likes?posts=a,b). */
export function checkId(what: string, value: unknown): string {
  if (!isValidId(value)) throw invalidId(what, value);
  return value;
}
