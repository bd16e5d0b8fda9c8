#!/usr/bin/env bash
# The package as users get it: prebuild the addon (prebuildify), `npm pack`, install the tarball
# into an empty project (npm 11 blocks its install script: the prebuild must be what loads), then
# use it from CommonJS, ESM and the bin. Prints "package: N passed, N failed, 0 skipped" and
# writes NSGROUPS_LANE_RESULT like scripts/test-lane.js.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d /tmp/nsgroups-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # name, command...
  local name=$1; shift
  if out=$("$@" 2>&1); then passed=$((passed + 1)); echo "  ok    $name"; else failed=$((failed + 1)); echo "  FAIL  $name"; echo "$out" | sed 's/^/        /' | tail -20; fi
}

if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then export npm_config_nodedir=/usr; fi
check "prebuildify --napi --strip" npm run --silent prebuild
check "npm pack" npm pack --silent --pack-destination "$work"
cd "$work" && npm init -y >/dev/null
check "npm install of the tarball" npm install --no-audit --no-fund ./nsgroups-*.tgz
check "the tarball holds the prebuild, no build dir is made" test -f node_modules/nsgroups/prebuilds/linux-x64/nsgroups.node -a ! -e node_modules/nsgroups/build
check "require() runs a sandbox" node -e "
  const { run, NsgroupsError } = require('nsgroups');
  run('sh', ['-c', 'echo \$\$'], { namespaces: ['user', 'pid'] }).then((r) => { if (r.stdout !== '2\n') throw new Error(r.stdout); });"
cat > esm.mjs <<'JS'
import { run, NsgroupsError, Cgroup, Namespace, OverlayMount } from 'nsgroups';
import { createRequire } from 'node:module';
const cjs = createRequire(import.meta.url)('nsgroups');
if (NsgroupsError !== cjs.NsgroupsError) throw new Error('two NsgroupsError classes');
for (const c of [Cgroup, Namespace, OverlayMount]) if (typeof c !== 'function') throw new Error('missing export');
const r = await run('hostname', [], { namespaces: ['user'], hostname: 'esm' });
if (r.stdout !== 'esm\n') throw new Error(r.stdout);
try { await run('nsgroups-no-such-command'); throw new Error('ran'); } catch (e) { if (!(e instanceof cjs.NsgroupsError)) throw e; }
JS
check "import runs a sandbox; one NsgroupsError class for import and require" node esm.mjs
check "the nsgroups bin" sh -c "test \"\$(npx --no-install nsgroups run --hostname bin -- hostname)\" = bin"
cd "$repo"
echo "package: $passed passed, $failed failed, 0 skipped"
if [ -n "${NSGROUPS_LANE_RESULT:-}" ]; then
  printf '{"passed":%d,"failed":%d,"skipped":0}\n' "$passed" "$failed" > "$NSGROUPS_LANE_RESULT"
fi
[ "$failed" -eq 0 ]
