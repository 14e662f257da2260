/** The shipped bench-cluster scenarios (scenarios.ts) on the netns backend; see run-scenarios.ts. */
import { runScenarios } from './run-scenarios.js';
import { shippedScenarios } from './scenarios.js';

runScenarios(shippedScenarios);
