/** A small self-refreshing page over GET /status. */
export const STATUS_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>doubletap · consumer lag</title>
<style>
body{font:14px system-ui,sans-serif;margin:2rem;color:#222}table{border-collapse:collapse;margin-bottom:2rem}
td,th{padding:.25rem .75rem;border-bottom:1px solid #ddd;text-align:right}th{background:#f5f5f5}
.OK{color:#16803c}.WARN,.REWIND{color:#b45309}.ERR,.STALL,.STOP{color:#b91c1c;font-weight:600}
</style></head><body><h1>Consumer lag</h1><div id="at"></div><div id="groups"></div>
<script>
async function refresh(){
  const s = await (await fetch('status')).json();
  document.getElementById('at').textContent = 'sampled ' + (s.at || 'never') + (s.error ? ' — error: ' + s.error : '');
  document.getElementById('groups').innerHTML = s.groups.map(g =>
    '<h2>' + g.group + ' on ' + g.topic + ' <span class="' + g.status + '">' + g.status + '</span></h2>' +
    '<p>state ' + g.state + ', ' + g.members + ' members, lag ' + g.totalLag + ' messages, max ' + g.maxLagSeconds.toFixed(1) + ' s</p>' +
    '<table><tr><th>partition</th><th>committed</th><th>log end</th><th>lag</th><th>lag s</th><th>status</th><th>reason</th></tr>' +
    g.partitions.map(p => '<tr><td>' + p.partition + '</td><td>' + (p.committed ?? '-') + '</td><td>' + p.logEnd + '</td><td>' + p.lag +
      '</td><td>' + p.lagSeconds.toFixed(1) + '</td><td class="' + p.status + '">' + p.status + '</td><td style="text-align:left">' + p.reason + '</td></tr>').join('') +
    '</table>').join('');
}
refresh(); setInterval(refresh, 5000);
</script></body></html>`;
