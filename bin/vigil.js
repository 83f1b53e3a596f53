#!/usr/bin/env node
// Entry point of the `vigil` command; run `npm run build` first (npm start and npm test do).
import { run } from '../dist/apps/cli/src/main.js';

await run();
