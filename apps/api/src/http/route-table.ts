/**
 * The routes the server knows (collected from Fastify's onRoute hook), so an unknown method on a
 * known path is answered 405 with Allow instead of 404. Paths match exactly as Fastify's router
 * matches them (no trailing-slash or duplicate-slash leniency), so a path Fastify does not route
 * is a 404, never a 405 that lists the very method that was used.
 */
export class RouteTable {
  private readonly routes: { method: string; pattern: RegExp }[] = [];

  add(methods: string | string[], url: string): void {
    const source = url
      .split('/')
      .map((part) =>
        part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
      )
      .join('/');
    for (const method of Array.isArray(methods) ? methods : [methods])
      this.routes.push({ method: method.toUpperCase(), pattern: new RegExp(`^${source}$`) });
  }

  /** methods allowed on this concrete path (empty when no route matches the path) */
  allowed(path: string): string[] {
    const clean = path.split('?')[0];
    const methods = new Set(this.routes.filter((r) => r.pattern.test(clean)).map((r) => r.method));
    return [...methods].sort();
  }
}
