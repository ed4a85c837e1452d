import { platformatic, type Platformatic } from './platformatic';

type Reader = InstanceType<typeof Platformatic.Reader>;

/** A consumer-protocol (KIP-848) group as its coordinator describes it. */
export interface ConsumerGroupView {
  /** the coordinator's state: Stable, Reconciling, Assigning, Empty */
  state: string;
  members: number;
}

type Lib = ReturnType<typeof platformatic>;
type Connection = InstanceType<Lib['Connection']>;
type PlatformaticAdmin = InstanceType<Lib['Admin']>;

/**
 * Describes KIP-848 groups with ConsumerGroupDescribe (GROUP_ID_NOT_FOUND for no such group, and for
 * a classic group, which DescribeGroups knows). kafkajs only speaks DescribeGroups, which knows
 * classic groups: for a consumer-protocol group (KAFKA_CONSUMER_CLIENT=platformatic, ADR 0019) Kafka
 * answers "Dead" with no members, and a tool that trusted that would think a running group was
 * stopped. One admin and one connection per coordinator, kept open between calls (the lag monitor
 * asks every few seconds); a failed call drops the connection it used, so the next one finds the
 * coordinator again (it may have moved).
 */
export class ConsumerGroupDescriber {
  private admin?: PlatformaticAdmin;
  private readonly connections = new Map<string, Promise<Connection>>();

  constructor(
    private readonly brokers: () => Promise<string[]>,
    private readonly clientId = 'doubletap-describe',
  ) {}

  /**
   * Undefined when there is no such consumer-protocol group, or when @platformatic/kafka cannot be
   * loaded here (jest on Node 20: only kafkajs groups run there). Throws when the coordinator cannot
   * be asked: callers must not read "no members" into an error.
   */
  async describe(groupId: string): Promise<ConsumerGroupView | undefined> {
    let lib: Lib;
    try {
      lib = platformatic();
    } catch {
      return undefined;
    }
    let address: string | undefined;
    try {
      this.admin ??= new lib.Admin({ clientId: this.clientId, bootstrapBrokers: await this.brokers(), timeout: 10000, retries: 2 });
      const [coordinator] = await this.admin.findCoordinator({ keyType: lib.FindCoordinatorKeyTypes.GROUP, keys: [groupId] });
      address = `${coordinator.host}:${coordinator.port}`;
      const connecting = this.connections.get(address) ?? this.connect(lib, coordinator.host, coordinator.port);
      this.connections.set(address, connecting);
      const api = lib.createAPI<[string[], boolean], DescribedGroup>(
        lib.consumerGroupDescribeV0.api.key,
        0,
        lib.consumerGroupDescribeV0.createRequest,
        parseFirstGroup,
      );
      const group = await api.async(await connecting, [groupId], false);
      if (group.errorCode === GROUP_ID_NOT_FOUND) return undefined;
      if (group.errorCode !== 0 || group.groupId !== groupId)
        throw new Error(`ConsumerGroupDescribe ${groupId}: error ${group.errorCode} ${group.errorMessage ?? ''}`.trim());
      return { state: group.state, members: group.members };
    } catch (e) {
      // NOT_COORDINATOR, a broken socket, a broker gone: find the coordinator afresh next time
      const connecting = address === undefined ? undefined : this.connections.get(address);
      if (address !== undefined) this.connections.delete(address);
      await connecting?.then((c) => c.close()).catch(() => undefined);
      await this.resetAdmin();
      throw e;
    }
  }

  private async connect(lib: Lib, host: string, port: number): Promise<Connection> {
    const connection = new lib.Connection(this.clientId);
    await connection.connect(host, port);
    return connection;
  }

  async close(): Promise<void> {
    const open = [...this.connections.values()];
    this.connections.clear();
    await Promise.all(open.map((c) => c.then((x) => x.close()).catch(() => undefined)));
    await this.resetAdmin();
  }

  private async resetAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.close().catch(() => undefined);
  }
}

/** GROUP_ID_NOT_FOUND: no such group, or a classic group */
const GROUP_ID_NOT_FOUND = 69;

interface DescribedGroup {
  errorCode: number;
  errorMessage: string | null;
  groupId: string;
  state: string;
  members: number;
}

/**
 * The first group of a ConsumerGroupDescribe v0 response, up to its member count. Our own reader:
 * the library's (1.35.0) reads a member's subscribed topic names as one string where Kafka sends an
 * array, and fails on every group that has members ("Out of bounds"). The rest of the response (the
 * members' fields) is not needed and not read.
 */
function parseFirstGroup(
  _correlationId: number,
  _apiKey: number,
  _apiVersion: number,
  reader: Reader,
): DescribedGroup {
  reader.readInt32(); // throttle_time_ms
  if (reader.readUnsignedVarInt() - 1 < 1) throw new Error('ConsumerGroupDescribe answered no group');
  const errorCode = reader.readInt16();
  const errorMessage = reader.readNullableString();
  const groupId = reader.readString();
  const state = reader.readString();
  reader.readInt32(); // group_epoch
  reader.readInt32(); // assignment_epoch
  reader.readString(); // assignor_name
  const members = Math.max(0, reader.readUnsignedVarInt() - 1);
  return { errorCode, errorMessage, groupId, state, members };
}
