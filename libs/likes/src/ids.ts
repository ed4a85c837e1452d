/** postId and userId: 1–64 characters of A–Z, a–z, 0–9, underscore and hyphen. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

export function isValidId(value: unknown): value is string {
  return typeof value === 'string' && ID_PATTERN.test(value);
}
