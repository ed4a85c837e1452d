/**
 * The live post page (GET / and GET /p/:postId): a post with a heart button and its live count.
 * Uses only the public API: GET /v1/posts/:id/likes (likedByViewer on load), the SSE stream for
 * the count, POST/DELETE /v1/posts/:id/likes for a tap. Identity: `?token=<jwt>` (kept in
 * sessionStorage and removed from the address bar), else a dev token from GET /dev/token when the
 * server has that route (only in development on a loopback address), else read-only with a
 * message saying how to sign in.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>doubletap</title>
<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns=%22http://www.w3.org/2000/svg%22 viewBox=%220 0 24 24%22%3E%3Cpath fill=%22%23ff2d55%22 d=%22M12 20.6s-7.6-4.6-9.4-9.3C1.3 7.8 3.6 4.5 7 4.5c2 0 3.6 1.1 5 3 1.4-1.9 3-3 5-3 3.4 0 5.7 3.3 4.4 6.8-1.8 4.7-9.4 9.3-9.4 9.3z%22/%3E%3C/svg%3E">
<style>
  :root { color-scheme: light; --ink: #1c1c1e; --muted: #8e8e93; --heart: #ff2d55; --line: #e5e5ea; }
  * { box-sizing: border-box; }
  body { margin: 0; min-height: 100vh; display: grid; place-items: center; background: #f2f2f7;
         font: 16px/1.4 -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: var(--ink); }
  .post { width: min(92vw, 380px); background: #fff; border-radius: 18px; overflow: hidden;
          box-shadow: 0 1px 2px rgba(0,0,0,.06), 0 8px 24px rgba(0,0,0,.08); }
  .head { display: flex; align-items: center; gap: 10px; padding: 12px 14px; }
  .avatar { width: 32px; height: 32px; border-radius: 50%; background: linear-gradient(135deg, #ff9500, #ff2d55 60%, #af52de); }
  .who { font-weight: 600; font-size: 14px; }
  .photo { aspect-ratio: 1 / 1; display: grid; place-items: center; user-select: none;
           background: radial-gradient(circle at 30% 25%, #ffd1dc, #fff0 45%), linear-gradient(160deg, #5ac8fa, #5856d6 70%); }
  .photo span { color: #fff; font-size: 22px; font-weight: 700; letter-spacing: .02em; text-shadow: 0 2px 8px rgba(0,0,0,.25); }
  .bar { display: flex; align-items: center; gap: 10px; padding: 10px 12px 4px; }
  #heart { border: 0; background: none; padding: 4px; cursor: pointer; line-height: 0; border-radius: 50%; }
  #heart:disabled { cursor: default; opacity: .5; }
  #heart:focus-visible { outline: 2px solid #007aff; outline-offset: 2px; }
  #heart svg { width: 30px; height: 30px; fill: none; stroke: var(--ink); stroke-width: 1.8; transition: transform .15s ease; }
  #heart[aria-pressed="true"] svg { fill: var(--heart); stroke: var(--heart); animation: pop .3s ease; }
  @keyframes pop { 40% { transform: scale(1.25); } }
  .count { font-weight: 600; }
  .meta { padding: 0 14px 14px; font-size: 12px; color: var(--muted); display: flex; justify-content: space-between; gap: 8px; }
  .dot { display: inline-block; width: 7px; height: 7px; border-radius: 50%; background: var(--muted); margin-right: 5px; vertical-align: 1px; }
  .live .dot { background: #34c759; }
  #error { color: #d70015; min-height: 1em; }
</style>
</head>
<body>
<article class="post">
  <header class="head"><div class="avatar"></div><div class="who" id="post-title">post</div></header>
  <div class="photo"><span>double tap me</span></div>
  <div class="bar">
    <button id="heart" type="button" aria-pressed="false" aria-label="Like" disabled>
      <svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 20.6s-7.6-4.6-9.4-9.3C1.3 7.8 3.6 4.5 7 4.5c2 0 3.6 1.1 5 3 1.4-1.9 3-3 5-3 3.4 0 5.7 3.3 4.4 6.8-1.8 4.7-9.4 9.3-9.4 9.3z"/></svg>
    </button>
    <div><span class="count" id="count">–</span> <span id="noun">likes</span></div>
  </div>
  <footer class="meta"><span id="status"><span class="dot"></span>connecting…</span><span id="who"></span></footer>
  <div class="meta" id="error" role="status"></div>
</article>
<script>
(() => {
  'use strict';
  const $ = (id) => document.getElementById(id);
  const heart = $('heart'), countEl = $('count'), statusEl = $('status'), errorEl = $('error');
  const params = new URLSearchParams(location.search);
  const postId = location.pathname.startsWith('/p/')
    ? decodeURIComponent(location.pathname.slice(3))
    : (params.get('post') || 'welcome');
  const base = '/v1/posts/' + encodeURIComponent(postId) + '/likes';
  $('post-title').textContent = postId;
  document.title = postId + ' · doubletap';

  let token = params.get('token') || sessionStorage.getItem('doubletap.token') || '';
  if (params.has('token')) {
    sessionStorage.setItem('doubletap.token', token);
    params.delete('token');
    history.replaceState(null, '', location.pathname + (params.size ? '?' + params : '') + location.hash);
  }

  let liked = null;       // true/false once known; null = unknown
  let asOf = -1;          // newest count shown (ms), so an older answer never moves the count back
  let busy = false;

  function showCount(v) {
    const t = v.asOf === null ? 0 : Date.parse(v.asOf);
    if (t < asOf) return;
    asOf = t;
    countEl.textContent = v.display;
    countEl.title = v.count.toLocaleString();
    countEl.dataset.count = String(v.count);
    $('noun').textContent = v.count === 1 ? 'like' : 'likes';
  }
  function showLiked(value) {
    liked = value;
    heart.setAttribute('aria-pressed', value === true ? 'true' : 'false');
    heart.setAttribute('aria-label', value === true ? 'Unlike' : 'Like');
  }
  function fail(msg) { errorEl.textContent = msg; }
  async function problem(res) {
    try { const p = await res.json(); return p.detail || p.title || ('HTTP ' + res.status); }
    catch { return 'HTTP ' + res.status; }
  }
  const auth = () => (token ? { authorization: 'Bearer ' + token } : {});

  const SIGN_IN = 'To like, open this page with ?token=<your JWT> (e.g. from npx doubletap token --user you).';
  async function identify() {
    let why = '';
    if (!token) {
      try {
        const res = await fetch('/dev/token');
        if (res.ok) { const t = await res.json(); token = t.token; sessionStorage.setItem('doubletap.token', token); }
        else if (res.status === 404) why = 'This server has no dev tokens (they exist only in development, on a loopback address). ';
        else why = 'No dev token: ' + (await problem(res)) + '. ';
      } catch (e) { why = 'No dev token (network error: ' + e.message + '). '; }
    }
    if (token) {
      try { $('who').textContent = 'you are ' + JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).sub; }
      catch { $('who').textContent = ''; }
    } else {
      $('who').textContent = 'read-only';
      heart.title = SIGN_IN;
      fail(why + SIGN_IN);
    }
  }

  async function load() {
    const res = await fetch(base, { headers: auth(), cache: 'no-store' });
    if (res.status === 401) { token = ''; sessionStorage.removeItem('doubletap.token'); $('who').textContent = 'read-only'; fail('Your token is not valid any more (' + (await problem(res)) + '); read-only. ' + SIGN_IN); return load(); }
    if (!res.ok) { fail(await problem(res)); return; }
    const body = await res.json();
    showCount(body);
    showLiked(body.likedByViewer);
    heart.disabled = !token;
  }

  heart.addEventListener('click', async () => {
    if (busy || !token) return;
    busy = true;
    const action = liked === true ? 'DELETE' : 'POST';
    try {
      const res = await fetch(base, { method: action, headers: auth() });
      if (res.status === 202) { showLiked(action === 'POST'); fail(''); }
      else fail(await problem(res));
    } catch (e) { fail('network error: ' + e.message); }
    finally { busy = false; }
  });
  document.querySelector('.photo').addEventListener('dblclick', () => { if (liked !== true) heart.click(); });

  function live() {
    const es = new EventSource(base + '/stream');
    es.addEventListener('count', (e) => showCount(JSON.parse(e.data)));
    es.onopen = () => { statusEl.className = 'live'; statusEl.lastChild.textContent = 'live'; };
    es.onerror = () => { statusEl.className = ''; statusEl.lastChild.textContent = 'reconnecting…'; };
  }

  identify().then(load).catch((e) => fail(String(e))).finally(live);
})();
</script>
</body>
</html>
`;
