#!/usr/bin/env node
// placeholder until the CLI lands (Foundation 2 of 2)
console.error('nsgroups: the CLI is not built yet');
process.exit(2);
