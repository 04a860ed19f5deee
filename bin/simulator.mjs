#!/usr/bin/env node
// Runs the channel simulator from its TypeScript sources through tsx, so a fresh clone needs no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/channels/simulator/cli.ts');
