/** Field-hardening scenarios (6 hosts: majority loss, partition safety) on the netns backend; see run-scenarios.ts. */
import { longPartition, majorityLoss, partition33 } from './field-scenarios.js';
import { runScenarios } from './run-scenarios.js';

runScenarios(() => [majorityLoss, partition33, longPartition]);
