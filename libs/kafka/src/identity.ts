import { connect, type Socket } from 'node:net';

/** What identifies a topic beyond its name: its id (a recreated topic gets a new one) and its partition count. */
export interface TopicIdentity {
  topic: string;
  /** Kafka's topic id (UUID); a topic deleted and created again under the same name has another */
  topicId: string;
  partitions: number;
}

const METADATA = 3;
const VERSION = 12;
const NULL_UUID = '00000000-0000-0000-0000-000000000000';

/**
 * Reads topic ids, which kafkajs cannot: its Metadata API stops at v6 and ids arrived in v10. One
 * Metadata v12 request (KIP-482 flexible encoding) on a short-lived connection to the first
 * bootstrap broker that answers. Any broker can answer Metadata, so no leader lookup is needed.
 * Undefined for a topic that does not exist.
 */
export class TopicIdentityReader {
  private correlation = 0;

  constructor(
    private readonly brokers: string[],
    private readonly clientId = 'doubletap-identity',
    private readonly timeoutMs = 5000,
  ) {}

  private readonly recent = new Map<string, { at: number; answer: Promise<TopicIdentity | undefined> }>();

  /**
   * describe(), shared by the callers that ask within `maxAgeMs` of one another: every partition of
   * a process checks the identity before it applies a batch, and they share one request.
   */
  describeRecent(topic: string, maxAgeMs = 1000): Promise<TopicIdentity | undefined> {
    const hit = this.recent.get(topic);
    if (hit && Date.now() - hit.at < maxAgeMs) return hit.answer;
    const answer = this.describe(topic);
    this.recent.set(topic, { at: Date.now(), answer });
    answer.catch(() => this.recent.delete(topic));
    return answer;
  }

  async describe(topic: string): Promise<TopicIdentity | undefined> {
    let last: unknown;
    // start from a different broker each time: one that hangs (paused) costs one timeout, not every read
    const start = this.correlation % this.brokers.length;
    const order = [...this.brokers.slice(start), ...this.brokers.slice(0, start)];
    for (const broker of order) {
      try {
        const response = await this.request(broker, encodeMetadataRequest(++this.correlation, this.clientId, topic));
        const found = decodeMetadataResponse(response).find((t) => t.name === topic);
        if (!found || found.errorCode === 3) return undefined; // UNKNOWN_TOPIC_OR_PARTITION
        if (found.errorCode !== 0) throw new Error(`metadata for ${topic}: Kafka error code ${found.errorCode}`);
        if (found.topicId === NULL_UUID) throw new Error(`the broker returned no topic id for ${topic}`);
        return { topic, topicId: found.topicId, partitions: found.partitions };
      } catch (e) {
        last = e;
      }
    }
    throw last instanceof Error ? last : new Error(String(last));
  }

  /** Kept for symmetry with clients that hold connections; this one holds none. */
  async close(): Promise<void> {}

  private request(broker: string, frame: Buffer): Promise<Buffer> {
    const i = broker.lastIndexOf(':');
    const host = broker.slice(0, i).replace(/^\[|\]$/g, '');
    const port = Number(broker.slice(i + 1));
    return new Promise<Buffer>((resolve, reject) => {
      const socket: Socket = connect({ host, port });
      const chunks: Buffer[] = [];
      let size = -1;
      let received = 0;
      const fail = (e: Error) => {
        socket.destroy();
        reject(e);
      };
      socket.setTimeout(this.timeoutMs, () => fail(new Error(`${broker} did not answer Metadata within ${this.timeoutMs}ms`)));
      socket.once('error', fail);
      socket.once('close', () => reject(new Error(`${broker} closed the connection before answering`)));
      socket.on('data', (data: Buffer) => {
        chunks.push(data);
        received += data.length;
        if (size < 0 && received >= 4) size = Buffer.concat(chunks).readInt32BE(0);
        if (size >= 0 && received >= size + 4) {
          const all = Buffer.concat(chunks);
          socket.end();
          resolve(all.subarray(4, 4 + size));
        }
      });
      socket.once('connect', () => socket.write(frame));
    });
  }
}

// ------------------------------------------------------------------ wire format (exported for tests)

function uvarint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return Buffer.from(out);
}

/** Metadata v12 for one topic by name, framed (size prefix), request header v2. */
export function encodeMetadataRequest(correlationId: number, clientId: string, topic: string): Buffer {
  const client = Buffer.from(clientId, 'utf8');
  const name = Buffer.from(topic, 'utf8');
  const header = Buffer.alloc(10);
  header.writeInt16BE(METADATA, 0);
  header.writeInt16BE(VERSION, 2);
  header.writeInt32BE(correlationId, 4);
  header.writeInt16BE(client.length, 8); // client_id is a classic nullable string even in header v2
  const body = Buffer.concat([
    header,
    client,
    uvarint(0), // header tagged fields
    uvarint(2), // topics: compact array of 1
    Buffer.alloc(16), // topic_id: zero UUID, look up by name
    uvarint(name.length + 1),
    name,
    uvarint(0), // topic tagged fields
    Buffer.from([0, 0]), // allow_auto_topic_creation, include_topic_authorized_operations
    uvarint(0),
  ]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length, 0);
  return Buffer.concat([size, body]);
}

export interface MetadataTopic {
  errorCode: number;
  name: string | null;
  topicId: string;
  partitions: number;
}

class Reader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  int8(): number {
    return this.buf.readInt8((this.at += 1) - 1);
  }
  int16(): number {
    return this.buf.readInt16BE((this.at += 2) - 2);
  }
  int32(): number {
    return this.buf.readInt32BE((this.at += 4) - 4);
  }
  uvarint(): number {
    let n = 0;
    let shift = 0;
    for (;;) {
      const b = this.buf[this.at++];
      if (b === undefined) throw new Error('truncated Metadata response');
      n += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return n;
      shift += 7;
    }
  }
  compactString(): string | null {
    const n = this.uvarint();
    if (n === 0) return null;
    const s = this.buf.toString('utf8', this.at, this.at + n - 1);
    this.at += n - 1;
    return s;
  }
  uuid(): string {
    const hex = this.buf.toString('hex', this.at, this.at + 16);
    this.at += 16;
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }
  array<T>(item: () => T): T[] {
    const n = this.uvarint();
    const out: T[] = [];
    for (let i = 0; i < n - 1; i++) out.push(item());
    return out;
  }
  tags(): void {
    const n = this.uvarint();
    for (let i = 0; i < n; i++) {
      this.uvarint();
      this.at += this.uvarint();
    }
  }
}

/** The topics of a Metadata v12 response (the body after the size prefix, response header v1 included). */
export function decodeMetadataResponse(body: Buffer): MetadataTopic[] {
  const r = new Reader(body);
  r.int32(); // correlation id
  r.tags();
  r.int32(); // throttle
  r.array(() => {
    r.int32();
    r.compactString();
    r.int32();
    r.compactString();
    r.tags();
  });
  r.compactString(); // cluster id
  r.int32(); // controller id
  const topics = r.array(() => {
    const errorCode = r.int16();
    const name = r.compactString();
    const topicId = r.uuid();
    r.int8(); // is_internal
    const partitions = r.array(() => {
      r.int16();
      r.int32();
      r.int32();
      r.int32();
      r.array(() => r.int32());
      r.array(() => r.int32());
      r.array(() => r.int32());
      r.tags();
    }).length;
    r.int32(); // authorized operations
    r.tags();
    return { errorCode, name, topicId, partitions };
  });
  return topics;
}
