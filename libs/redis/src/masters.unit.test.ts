import calculateSlot from 'cluster-key-slot';
import {
  formatMarkerRecord,
  markerIndexFor,
  markerKey,
  markersByMaster,
  mastersOfClusterSlots,
  parseMarkerRecord,
  uncoveredMasters,
  type SlotRange,
} from './masters';

const THREE: [string, SlotRange[]][] = [
  ['127.0.0.1:17101', [{ start: 0, end: 5460 }]],
  ['127.0.0.1:17102', [{ start: 5461, end: 10922 }]],
  ['127.0.0.1:17103', [{ start: 10923, end: 16383 }]],
];
const inside = (slot: number, ranges: SlotRange[]) => ranges.some((r) => slot >= r.start && slot <= r.end);

describe('Redis Cluster master markers (pure parts)', () => {
  it("markerIndexFor picks the smallest tag whose slot is one of the master's (the key's slot is the tag's)", () => {
    for (const prefix of ['dt:', 'heal-x-1:', '']) {
      for (const [, ranges] of THREE) {
        const i = markerIndexFor(prefix, ranges);
        const key = markerKey(prefix, i, 'tok');
        expect(inside(calculateSlot(key), ranges)).toBe(true);
        expect(calculateSlot(markerKey(prefix, i, 'another-token'))).toBe(calculateSlot(key)); // the token does not move it
        for (let j = 0; j < i; j++)
          expect(inside(calculateSlot(markerKey(prefix, j, 'tok')), ranges)).toBe(false);
        expect(markerIndexFor(prefix, ranges)).toBe(i); // deterministic
      }
    }
  });

  it('markerIndexFor finds a master holding a single slot, or a few scattered ranges; none without slots', () => {
    const one = [{ start: 12345, end: 12345 }];
    expect(calculateSlot(markerKey('dt:', markerIndexFor('dt:', one), 't'))).toBe(12345);
    const scattered = [
      { start: 7, end: 9 },
      { start: 16000, end: 16010 },
    ];
    expect(inside(calculateSlot(markerKey('dt:', markerIndexFor('dt:', scattered), 't')), scattered)).toBe(
      true,
    );
    expect(() => markerIndexFor('dt:', [])).toThrow(/without slots/);
  });

  it('reads the masters and their ranges from a CLUSTER SLOTS reply (replicas ignored, several ranges per master)', () => {
    const reply = [
      [0, 100, ['10.0.0.1', 7000, 'id1'], ['10.0.0.4', 7000, 'id4']],
      [101, 8000, ['10.0.0.2', 7001, 'id2']],
      [8001, 16383, ['10.0.0.3', 7002, 'id3']],
      [200, 300, ['10.0.0.1', 7000, 'id1']],
    ];
    expect(mastersOfClusterSlots(reply)).toEqual(
      new Map([
        [
          '10.0.0.1:7000',
          [
            { start: 0, end: 100 },
            { start: 200, end: 300 },
          ],
        ],
        ['10.0.0.2:7001', [{ start: 101, end: 8000 }]],
        ['10.0.0.3:7002', [{ start: 8001, end: 16383 }]],
      ]),
    );
    expect(() => mastersOfClusterSlots('nope')).toThrow();
    expect(() => mastersOfClusterSlots([[0, 1]])).toThrow(/unexpected/);
  });

  it('uncoveredMasters: masters none of the markers lies on (a new master, or a marker whose slot moved away)', () => {
    const masters = new Map(THREE);
    const markers = THREE.map(([, r]) => markerKey('dt:', markerIndexFor('dt:', r), 't'));
    expect(uncoveredMasters(markers, masters)).toEqual([]);
    expect(uncoveredMasters([], masters)).toEqual(THREE.map(([id]) => id));
    expect(uncoveredMasters(markers.slice(1), masters)).toEqual(['127.0.0.1:17101']);
    // resharding: the first marker's slot now belongs to a fourth master, 17101 keeps the rest
    const slot = calculateSlot(markers[0]);
    const moved = new Map<string, SlotRange[]>([
      [
        '127.0.0.1:17101',
        [
          { start: 0, end: slot - 1 },
          { start: slot + 1, end: 5460 },
        ].filter((r) => r.start <= r.end),
      ],
      ['127.0.0.1:17104', [{ start: slot, end: slot }]],
      ...THREE.slice(1),
    ]);
    expect(uncoveredMasters(markers, moved)).toEqual(['127.0.0.1:17101']);
  });

  it('markersByMaster maps each master of a client slot map to one marker on it', () => {
    const slots: string[][] = [];
    for (const [id, ranges] of THREE)
      for (const r of ranges) for (let s = r.start; s <= r.end; s++) slots[s] = [id, `${id}-replica`];
    const markers = THREE.map(([, r]) => markerKey('dt:', markerIndexFor('dt:', r), 't'));
    expect(markersByMaster(markers, slots)).toEqual(new Map(THREE.map(([id], i) => [id, markers[i]])));
    expect(markersByMaster(markers, [])).toEqual(new Map()); // no slot map yet: nothing to check
  });

  it('the record round-trips as JSON; anything else is refused', () => {
    const record = { token: 'ab12', markers: ['x', 'y'] };
    expect(parseMarkerRecord(formatMarkerRecord(record))).toEqual(record);
    expect(parseMarkerRecord(null)).toBeUndefined();
    expect(() => parseMarkerRecord('{"token":1,"markers":[]}')).toThrow(/not a master marker record/);
    expect(() => parseMarkerRecord('{"token":"t","markers":[2]}')).toThrow(/not a master marker record/);
  });
});
