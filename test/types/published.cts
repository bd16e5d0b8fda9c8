// The published CommonJS types (dist/index.d.ts), as a user's strict TypeScript sees them (see
// published.mts).
import nsgroups = require('nsgroups');

const p = nsgroups.spawn('ls', ['/']);
p.stdout.setEncoding('utf8');
p.on('exit', (code, signal) => void [code ?? 0, signal?.startsWith('SIG')]);
// @ts-expect-error there is no default export in CommonJS
void nsgroups.default;
// @ts-expect-error the plan handed to the addon is not public
export type Plan = nsgroups.NativePlan;
