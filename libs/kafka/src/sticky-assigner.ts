import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';
import { decodeClaim, encodeClaim, stickyAssignment } from './sticky-assignment';

/** What this member claims when it joins (read at every join). */
export interface ClaimSource {
  owned(): readonly number[];
  /** partition → last input offset of local state this member holds for it */
  warm(): Readonly<Record<number, number>>;
}

export const STICKY_ASSIGNER_NAME = 'DoubletapStickyAssigner';

/**
 * A kafkajs assigner (the group leader runs it) that keeps partitions where they are and hands moved
 * ones to the member whose local state of them is furthest: see {@link stickyAssignment}. kafkajs
 * rebalances are eager (every member re-joins), but a partition whose owner does not change is not
 * released, so its task keeps its open store and goes on after the join.
 */
export function stickyAssigner(claims: ClaimSource): PartitionAssigner {
  return ({ cluster }) => ({
    name: STICKY_ASSIGNER_NAME,
    version: 1,
    async assign({ members, topics }) {
      const perMember = new Map<string, Record<string, number[]>>(members.map((m) => [m.memberId, {}]));
      for (const topic of topics) {
        const partitions = cluster.findTopicPartitionMetadata(topic).map((m) => m.partitionId);
        const memberClaims = members.map((m) =>
          decodeClaim(m.memberId, AssignerProtocol.MemberMetadata.decode(m.memberMetadata)?.userData),
        );
        for (const [memberId, list] of stickyAssignment(partitions, memberClaims))
          perMember.get(memberId)![topic] = list;
      }
      return [...perMember].map(([memberId, assignment]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 1,
          assignment,
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: STICKY_ASSIGNER_NAME,
        metadata: AssignerProtocol.MemberMetadata.encode({
          version: 1,
          topics,
          userData: encodeClaim(claims.owned(), claims.warm()),
        }),
      };
    },
  });
}
