#!/usr/bin/env node
'use strict';
// After scripts/write-esm-wrapper.js: dist/index.mjs has a default export (the CommonJS module
// object, `import nsgroups from 'nsgroups'`), so dist/index.d.mts declares it too: an object
// with exactly the runtime's values, each typed by its own declaration in the file.
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist');
const file = path.join(dist, 'index.d.mts');
const dts = fs.readFileSync(file, 'utf8');
if (/^export default /m.test(dts)) throw new Error(`${file} already has a default export`);
const list = dts.match(/^export \{([^}]*)\};\s*$/m);
if (!list) throw new Error(`${file}: no export list`);
// the names exported as values, as declared (a rename `a as b` would need the local name)
const values = new Set(
  list[1]
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n && !n.startsWith('type ')),
);
for (const n of values) if (!/^[A-Za-z_$][\w$]*$/.test(n)) throw new Error(`${file}: cannot type the default export's ${n}`);
// With subpath entries the declarations share chunks: `export { n as Cgroup } from './x.js'`.
// Those names are no local bindings; the default export's type imports them.
const reexported = new Map(); // exported name -> [local name in the chunk, chunk]
for (const m of dts.matchAll(/^export \{([^}]*)\} from '([^']+)';\s*$/gm)) {
  for (const entry of m[1]
    .split(',')
    .map((n) => n.trim())
    .filter(Boolean)) {
    const [local, as] = entry.replace(/^type /, '').split(/\s+as\s+/);
    reexported.set(as ?? local, [local, m[2]]);
  }
}
const runtime = Object.keys(require(path.join(dist, 'index.cjs'))).filter((n) => n !== 'default' && n !== '__esModule');
const missing = runtime.filter((n) => !values.has(n) && !reexported.has(n));
if (missing.length) throw new Error(`${file} declares no ${missing.join(', ')} (the runtime exports them)`);
const imports = runtime
  .filter((n) => !values.has(n))
  .map((n) => {
    const [local, from] = reexported.get(n);
    return `import { ${local === n ? n : `${local} as ${n}`} } from '${from}';\n`;
  })
  .join('');
fs.writeFileSync(
  file,
  imports +
    dts +
    "\n/** The ESM runtime's default export: the module object (`import nsgroups from 'nsgroups'`). */\n" +
    'declare const _default: {\n' +
    runtime.map((n) => `  readonly ${n}: typeof ${n};\n`).join('') +
    '};\nexport default _default;\n',
);
console.log(`dist/index.d.mts: a default export of ${runtime.length} values`);
