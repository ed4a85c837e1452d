import { parseStatsCsv, serverStates } from './stats';

// HAProxy 2.6's `/stats;csv`, cut to its first columns and a few rows (the parser finds columns by name)
const CSV = [
  '# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,',
  'api,FRONTEND,,,3,5,4096,40,138,97,0,0,0,,,,,OPEN,,,,,,,,,1,1,0,,,,0,1,0,1,,,',
  'api,api-1,0,0,2,3,,21,138,97,,0,,0,0,0,0,UP,1,1,0,0,0,12,0,,1,2,1,,1,,2,1,,1,L7OK,200,',
  'api,api-2,0,0,1,2,,19,0,0,,0,,0,0,0,0,UP 1/2,1,1,0,1,0,12,0,,1,2,2,,0,,2,0,,0,L7STS,503,',
  'api,api-3,0,0,0,0,,0,0,0,,0,,0,0,0,0,DOWN,1,1,0,1,1,1,1,,1,2,3,,0,,2,0,,0,* L4CON,,',
  'api,BACKEND,0,0,3,5,410,40,138,97,0,0,,0,0,0,0,UP,2,2,0,,0,12,0,,1,2,0,,1,,1,1,,1,,,',
  'stats,FRONTEND,,,1,1,4096,1,146,2589,0,0,0,,,,,OPEN,,,,,,,,,1,3,0,,,,0,1,0,1,,,',
  '',
].join('\n');

describe('parseStatsCsv', () => {
  it('reads each server: state, raw status, sessions, last check', () => {
    const stats = parseStatsCsv(CSV);
    expect(stats.servers).toEqual([
      {
        proxy: 'api',
        server: 'api-1',
        state: 'UP',
        status: 'UP',
        sessions: 2,
        totalSessions: 21,
        checkStatus: 'L7OK',
        lastChangeSeconds: 12,
      },
      {
        proxy: 'api',
        server: 'api-2',
        state: 'UP',
        status: 'UP 1/2',
        sessions: 1,
        totalSessions: 19,
        checkStatus: 'L7STS',
        lastChangeSeconds: 12,
      },
      {
        proxy: 'api',
        server: 'api-3',
        state: 'DOWN',
        status: 'DOWN',
        sessions: 0,
        totalSessions: 0,
        checkStatus: 'L4CON',
        lastChangeSeconds: 1,
      },
    ]);
    expect(stats.frontendSessions).toEqual({ api: 3, stats: 1 });
    expect(serverStates(stats)).toEqual({ 'api-1': 'UP', 'api-2': 'UP', 'api-3': 'DOWN' });
    expect(serverStates(stats, 'other')).toEqual({});
  });

  it('keeps `no check` and MAINT as they are', () => {
    const csv = ['# pxname,svname,scur,status', 'b,s1,0,no check', 'b,s2,4,MAINT'].join('\n');
    expect(serverStates(parseStatsCsv(csv))).toEqual({ s1: 'no check', s2: 'MAINT' });
  });

  it('refuses what is not a stats CSV', () => {
    expect(() => parseStatsCsv('<html>503</html>')).toThrow('not a HAProxy stats CSV');
    expect(() => parseStatsCsv('# pxname,svname,status\nx,y,UP')).toThrow('no scur column');
  });
});
