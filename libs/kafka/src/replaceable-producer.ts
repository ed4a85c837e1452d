import type { Logger } from '@doubletap/observability';

export interface ReplaceableProducerOptions {
  topic: string;
  /** the Kafka client's name, in the log lines */
  client: string;
  logger?: Logger;
}

/**
 * The producer lifecycle both batch sinks share (kafkajs and @platformatic/kafka): one producer that
 * connects in the background, with backoff (100 ms doubling to 2 s) until stop(), so the process
 * starts and reports "not ready" while Kafka is down; and that is retired and replaced by a fresh one
 * (a new producer id) whenever its state is in doubt, before anything else is sent.
 */
export abstract class ReplaceableProducer<P> {
  /** the connected producer; undefined while a new one connects */
  protected producer?: P;
  private connected = false;
  private stopped = false;
  private connecting?: Promise<void>;
  private wake?: () => void;

  constructor(private readonly lifecycle: ReplaceableProducerOptions) {}

  /** Builds a producer (not connected); its own "disconnected" event calls {@link lost} or {@link discard}. */
  protected abstract create(): P;
  /** Connects it, with whatever it needs before its first send. */
  protected abstract open(producer: P): Promise<void>;
  /** Closes it, ending whatever it still does; never rejects. */
  protected abstract close(producer: P): Promise<void>;

  get isConnected(): boolean {
    return this.connected;
  }

  /** why sending is impossible right now, or undefined */
  unavailable = (): string | undefined =>
    this.connected ? undefined : 'the Kafka producer is not connected';

  /** Starts connecting (retrying with backoff until stop()); resolves when first connected or stopped. */
  start(): Promise<void> {
    this.connecting ??= this.connectLoop().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  /**
   * Retires the current producer without waiting for it (a batch's outcome is unknown): sends fail
   * fast as "not connected" until a new producer, with a new producer id, is connected.
   */
  discard(why: string): void {
    const producer = this.producer;
    if (!producer) return;
    this.lifecycle.logger?.warn({ why }, 'retiring the Kafka producer; connecting a new one');
    this.retire(producer);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.connected = false;
    this.wake?.();
    await this.connecting?.catch(() => undefined);
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await this.close(producer);
  }

  /** Closes `producer`; unless it was replaced already, a new one starts connecting. */
  protected retire(producer: P): void {
    if (this.producer === producer) {
      this.producer = undefined;
      this.connected = false;
      if (!this.stopped) void this.start();
    }
    void this.close(producer);
  }

  /** `producer` lost its connection by itself: unless it was replaced already, a new one starts connecting. */
  protected lost(producer: P): void {
    if (this.producer !== producer) return;
    this.connected = false;
    this.producer = undefined;
    if (!this.stopped) void this.start();
  }

  private async connectLoop(): Promise<void> {
    let delay = 100;
    while (!this.stopped) {
      const producer = this.create();
      try {
        await this.open(producer);
        if (this.stopped) {
          await this.close(producer);
          return;
        }
        this.producer = producer;
        this.connected = true;
        this.lifecycle.logger?.info(
          { topic: this.lifecycle.topic, client: this.lifecycle.client },
          'Kafka producer connected',
        );
        return;
      } catch (e) {
        this.lifecycle.logger?.warn({ err: e, retryInMs: delay }, 'Kafka producer cannot connect');
        await this.close(producer);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}
