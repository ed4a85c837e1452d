// The integration tier runs consumer-group members inside jest's process (the aggregator's and the
// projector's apps, built from the sources). Jest's CommonJS runtime cannot load @platformatic/kafka
// (an ECMAScript module) on Node 20, so in-process members consume with kafkajs unless the run asks
// for platformatic (`KAFKA_CONSUMER_CLIENT=platformatic` under Node 24 with --experimental-vm-modules,
// ADR 0019). The default client, platformatic, runs in the e2e tier's built apps.
process.env.KAFKA_CONSUMER_CLIENT ??= 'kafkajs';
