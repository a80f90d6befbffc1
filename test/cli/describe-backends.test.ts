import { expect, it } from 'vitest';
import { deploymentKind } from '../../src/cli/describe-backends.js';

it('deploymentKind names what serves the tasks and the queue', () => {
  expect(deploymentKind('sqlite:./data/inferq.db', 'sqlite:./data/queue.db')).toBe(
    'embedded: SQLite + local files',
  );
  expect(deploymentKind('postgres://db/inferq', 'redis://cache')).toBe('PostgreSQL + Redis');
  expect(deploymentKind('postgresql://db/inferq', 'amqp://mq')).toBe('PostgreSQL + RabbitMQ');
  expect(deploymentKind('postgres://db/inferq', 'postgres://db/inferq')).toBe('PostgreSQL');
});
