/**
 * The baseline `npm run bench` measures doubletap against: likes in PostgreSQL, one row per like and
 * a counter row per post, the classic design. Same HTTP contract as the api for what the load
 * generator uses (POST/DELETE /v1/posts/:postId/likes → 202 with a verified bearer token;
 * GET /v1/posts/:postId/likes and GET /v1/likes?posts=), on plain Fastify (lighter than the api's
 * NestJS stack, so the comparison favours PostgreSQL).
 * Each like is ONE statement (one round trip, its own transaction, synchronous_commit as configured,
 * i.e. durable before the 202 like acks=all): insert the (post, user) row, ON CONFLICT DO NOTHING,
 * and only when a row was inserted, bump the post's counter row; an unlike deletes the row and
 * decrements. Exact set semantics, the same as doubletap's.
 * Env: BENCH_PG_PORT, BENCH_PG_TABLE (prefix of its two tables, created here), BENCH_PG_POOL (16),
 * PGHOST/PGPORT/PGUSER/PGDATABASE (default 127.0.0.1:5432, postgres, postgres).
 */
import Fastify from 'fastify';
import { Pool } from 'pg';
import { JwtVerifier, TokenRejected } from '@doubletap/auth';
import { loadSettings } from '@doubletap/config';

const table = process.env.BENCH_PG_TABLE ?? 'bench_likes';
if (!/^[a-z_][a-z0-9_]{0,40}$/.test(table)) throw new Error(`BENCH_PG_TABLE ${table} is not a plain identifier`);
const likes = `${table}_rows`;
const counts = `${table}_counts`;

async function main(): Promise<void> {
  const settings = loadSettings({ ...process.env, LOG_LEVEL: 'warn' });
  const verifier = new JwtVerifier(settings.auth);
  const pool = new Pool({
    host: process.env.PGHOST ?? '127.0.0.1',
    port: Number(process.env.PGPORT ?? 5432),
    user: process.env.PGUSER ?? 'postgres',
    database: process.env.PGDATABASE ?? 'postgres',
    max: Number(process.env.BENCH_PG_POOL ?? 16),
    connectionTimeoutMillis: 5000,
  });
  await pool.query(`CREATE TABLE IF NOT EXISTS ${likes} (post_id text NOT NULL, user_id text NOT NULL, PRIMARY KEY (post_id, user_id))`);
  await pool.query(`CREATE TABLE IF NOT EXISTS ${counts} (post_id text PRIMARY KEY, n bigint NOT NULL)`);
  const like = `WITH ins AS (INSERT INTO ${likes} (post_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING post_id)
    INSERT INTO ${counts} (post_id, n) SELECT post_id, 1 FROM ins ON CONFLICT (post_id) DO UPDATE SET n = ${counts}.n + 1`;
  const unlike = `WITH del AS (DELETE FROM ${likes} WHERE post_id = $1 AND user_id = $2 RETURNING post_id)
    UPDATE ${counts} SET n = ${counts}.n - 1 FROM del WHERE ${counts}.post_id = del.post_id`;

  const app = Fastify({ logger: false });
  const write = (sql: string) => async (req: { params: unknown; headers: { authorization?: string } }, reply: { code(n: number): { send(b: unknown): unknown } }) => {
    let userId: string;
    try {
      userId = (await verifier.verifyHeader(req.headers.authorization)).userId;
    } catch (e) {
      if (e instanceof TokenRejected) return reply.code(401).send({ detail: e.message });
      throw e;
    }
    const { postId } = req.params as { postId: string };
    await pool.query(sql, [postId, userId]);
    return reply.code(202).send({ postId, userId, acceptedAt: new Date().toISOString() });
  };
  app.post('/v1/posts/:postId/likes', write(like));
  app.delete('/v1/posts/:postId/likes', write(unlike));
  app.get('/v1/posts/:postId/likes', async (req) => {
    const { postId } = req.params as { postId: string };
    const r = await pool.query<{ n: string }>(`SELECT n FROM ${counts} WHERE post_id = $1`, [postId]);
    return { postId, count: Number(r.rows[0]?.n ?? 0) };
  });
  app.get('/v1/likes', async (req) => {
    const ids = String((req.query as { posts?: string }).posts ?? '').split(',').filter(Boolean).slice(0, 100);
    const r = await pool.query<{ post_id: string; n: string }>(`SELECT post_id, n FROM ${counts} WHERE post_id = ANY($1)`, [ids]);
    const found = new Map(r.rows.map((row) => [row.post_id, Number(row.n)]));
    return { posts: ids.map((postId) => ({ postId, count: found.get(postId) ?? 0 })) };
  });
  app.get('/ready', async () => ({ status: 'ok' }));
  const close = async () => {
    await app.close();
    await pool.end();
    process.exit(0);
  };
  process.once('SIGTERM', () => void close());
  await app.listen({ port: Number(process.env.BENCH_PG_PORT ?? 0), host: '127.0.0.1' });
}

main().catch((e: unknown) => {
  process.stderr.write(`pg-app: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
