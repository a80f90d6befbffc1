/** `embedded` when store and queue are both SQLite, else what they are (`PostgreSQL + Redis`). */
export function deploymentKind(storeUrl: string, brokerUrl: string): string {
  const name = (url: string): string => {
    const scheme = /^([a-z0-9+]+):/i.exec(url)?.[1]?.toLowerCase() ?? url;
    if (scheme === 'sqlite') return 'SQLite';
    if (scheme.startsWith('postgres')) return 'PostgreSQL';
    if (scheme.startsWith('redis')) return 'Redis';
    if (scheme.startsWith('amqp')) return 'RabbitMQ';
    return scheme;
  };
  const [store, broker] = [name(storeUrl), name(brokerUrl)];
  if (store === 'SQLite' && broker === 'SQLite') return 'embedded: SQLite + local files';
  return store === broker ? store : `${store} + ${broker}`;
}
