/**
 * What one member tells the group leader when it joins: the partitions it owns now and how far its
 * local state of other partitions is (a store kept from an earlier ownership, a standby copy).
 */
export interface MemberClaim {
  memberId: string;
  owned: readonly number[];
  /** partition → last input offset its local state includes */
  warm: Readonly<Record<number, number>>;
}

/**
 * A balanced assignment of `partitions` that moves as little as possible (Kafka's sticky and
 * cooperative-sticky assignors, Kafka Streams' preference for caught-up members):
 * - every member gets ⌊n/m⌋ or ⌈n/m⌉ partitions; the larger shares go to the members that own most;
 * - a member keeps what it owns, up to its share (a partition claimed by two members, after a member
 *   was evicted without knowing it, stays with the one whose state is furthest);
 * - every other partition goes to a member with room that holds local state of it (the furthest state
 *   first), then to the member with the fewest partitions (ties by member id: the same input gives the
 *   same answer).
 */
export function stickyAssignment(
  partitions: readonly number[],
  members: readonly MemberClaim[],
): Map<string, number[]> {
  const sorted = [...members].sort((a, b) =>
    a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0,
  );
  const out = new Map<string, number[]>(sorted.map((m) => [m.memberId, []]));
  if (sorted.length === 0) return out;
  const exists = new Set(partitions);
  const base = Math.floor(partitions.length / sorted.length);
  let extra = partitions.length % sorted.length;
  const capacity = new Map<string, number>();
  const byOwned = [...sorted].sort((a, b) => validOwned(b, exists).length - validOwned(a, exists).length);
  for (const m of byOwned) capacity.set(m.memberId, base + (extra-- > 0 ? 1 : 0));
  const warmth = (m: MemberClaim, p: number): number => m.warm[p] ?? -1;

  // pass 1: owners keep their partitions (the furthest claimant first when two claim one)
  const taken = new Set<number>();
  const claims = sorted.flatMap((m) => validOwned(m, exists).map((p) => ({ m, p })));
  claims.sort((a, b) => a.p - b.p || warmth(b.m, b.p) - warmth(a.m, a.p));
  for (const { m, p } of claims) {
    const mine = out.get(m.memberId)!;
    if (taken.has(p) || mine.length >= capacity.get(m.memberId)!) continue;
    mine.push(p);
    taken.add(p);
  }

  // pass 2: partitions someone holds local state of, furthest state first, to that member if it has room
  const room = (m: MemberClaim) => out.get(m.memberId)!.length < capacity.get(m.memberId)!;
  const warmClaims = sorted.flatMap((m) =>
    Object.keys(m.warm)
      .map(Number)
      .filter((p) => exists.has(p) && !taken.has(p))
      .map((p) => ({ m, p })),
  );
  warmClaims.sort((a, b) => warmth(b.m, b.p) - warmth(a.m, a.p) || a.p - b.p);
  for (const { m, p } of warmClaims) {
    if (taken.has(p) || !room(m)) continue;
    out.get(m.memberId)!.push(p);
    taken.add(p);
  }

  // pass 3: the rest to the least loaded member with room
  for (const p of [...exists].sort((a, b) => a - b)) {
    if (taken.has(p)) continue;
    let best: MemberClaim | undefined;
    for (const m of sorted)
      if (room(m) && (!best || out.get(m.memberId)!.length < out.get(best.memberId)!.length)) best = m;
    out.get(best!.memberId)!.push(p);
    taken.add(p);
  }
  for (const list of out.values()) list.sort((a, b) => a - b);
  return out;
}

function validOwned(m: MemberClaim, exists: ReadonlySet<number>): number[] {
  return m.owned.filter((p) => exists.has(p));
}

/** The claim's wire form in the member metadata's user data (JSON: small, and readable in a dump). */
export function encodeClaim(owned: readonly number[], warm: Readonly<Record<number, number>>): Buffer {
  return Buffer.from(JSON.stringify({ v: 1, owned, warm }));
}

/** A claim from user data; anything unreadable (another client, an older version) claims nothing. */
export function decodeClaim(memberId: string, userData: Buffer | null | undefined): MemberClaim {
  try {
    const o =
      userData && userData.length > 0
        ? (JSON.parse(userData.toString('utf8')) as { v?: number; owned?: unknown; warm?: unknown })
        : undefined;
    if (o?.v === 1 && Array.isArray(o.owned) && o.warm && typeof o.warm === 'object') {
      const owned = o.owned.filter((p): p is number => Number.isInteger(p));
      const warm: Record<number, number> = {};
      for (const [k, v] of Object.entries(o.warm as Record<string, unknown>))
        if (Number.isInteger(Number(k)) && typeof v === 'number') warm[Number(k)] = v;
      return { memberId, owned, warm };
    }
  } catch {
    // fall through: an unreadable claim claims nothing
  }
  return { memberId, owned: [], warm: {} };
}
