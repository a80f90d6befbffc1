import type { Command } from 'commander';
import { addBenchCommand } from './bench-command.js';
import { addModelsCommand } from './models-command.js';
import { addStatsCommand } from './stats-command.js';
import { addSubmitCommand } from './submit-command.js';
import { addTasksCommand } from './tasks-command.js';
import { addTenantsCommand } from './tenants-command.js';

/** The commands that talk to a running server through the SDK: models, submit, tasks, stats, bench, tenants. */
export function addClientCommands(program: Command): void {
  addModelsCommand(program);
  addSubmitCommand(program);
  addTasksCommand(program);
  addStatsCommand(program);
  addBenchCommand(program);
  addTenantsCommand(program);
}
