#!/usr/bin/env bash
# The package as users get it (the "package" lane):
#   1. a fresh clone of HEAD (only what is committed), `npm pack` there: its prepack builds dist/
#      and the four prebuilds (scripts/prebuilds.js), and nothing else is needed;
#   2. the tarball's contents (no source maps, no second library copy, the sources for a build
#      from source) and every prebuild (scripts/check-prebuild.js: machine, libc, highest
#      GLIBC/GLIBCXX version, NEEDED, exports, the embedded init);
#   3. an install into an empty project by an npm that finds no compiler on PATH (no cc, c++,
#      gcc, g++, make, python3), with install scripts blocked (npm 11's default) and allowed;
#      then CommonJS, ESM and the bin, each running a real sandbox on the x64 glibc prebuild;
#      the test-runner subpaths (nsgroups/node-test, jest, jest-environment, vitest) and the
#      node:test example against the installed package;
#   4. without a prebuild for this platform: the one ERR_UNSUPPORTED message, and its fix (a
#      build from source, `npm rebuild nsgroups` with the install script approved) works;
#   5. the arm64 glibc prebuild loaded by an arm64 Node under qemu-user (tools/arm64-node.sh),
#      and each musl prebuild dlopen'ed by musl's own loader (tools/musl-dlopen.sh).
# Prints "package: N passed, N failed, 0 skipped" and writes NSGROUPS_LANE_RESULT like
# scripts/test-lane.js.
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
work=$(mktemp -d /tmp/nsgroups-pack.XXXXXX)
trap 'rm -rf "$work"' EXIT
passed=0 failed=0
check() { # name, command...
  local name=$1; shift
  local started=$SECONDS
  if out=$("$@" 2>&1); then
    passed=$((passed + 1)); echo "  ok    $name ($((SECONDS - started)) s)"
  else
    failed=$((failed + 1)); echo "  FAIL  $name ($((SECONDS - started)) s)"; echo "$out" | sed 's/^/        /' | tail -30
  fi
  [ -z "${PACK_TEST_VERBOSE:-}" ] || echo "$out" | sed 's/^/        /'
}
# what a check wants shown even when it passes
show() { echo "$out" | grep -E "$1" | sed 's/^/        /'; }
if [ -d /usr/include/node ] && [ -z "${npm_config_nodedir:-}" ]; then export npm_config_nodedir=/usr; fi

# 1. a fresh clone, packed (its node_modules are the checkout's: dependencies, not build output)
git -C "$repo" diff --quiet HEAD -- 2>/dev/null || echo "  note: uncommitted changes are not in the clone; it packs $(git -C "$repo" rev-parse --short HEAD)"
clone=$work/clone
git clone -q "$repo" "$clone" && ln -s "$repo/node_modules" "$clone/node_modules"
check "npm pack in a fresh clone (prepack: dist and four prebuilds)" sh -c "cd '$clone' && npm pack --pack-destination '$work'"
show '^prebuilds: '
tarball=$(ls "$work"/nsgroups-*.tgz 2>/dev/null | head -1)
tarball=${tarball:-$work/missing.tgz}
echo "        tarball: $(du -k "$tarball" 2>/dev/null | cut -f1) KiB packed, $(tar tzf "$tarball" 2>/dev/null | wc -l) files"

# 2. what the tarball holds
tar xzf "$tarball" -C "$work" 2>/dev/null
pkg=$work/package
tarball_contents() {
  cd "$pkg" || return 1
  for f in LICENSE package.json dist/index.cjs dist/index.mjs dist/index.d.ts dist/cli.cjs binding.gyp \
    dist/{node-test,jest,jest-environment,vitest}.{cjs,mjs,d.ts,d.mts} \
    scripts/embed-binary.js src-native/addon.cc src-native/init/init.c src-native/exports.map \
    prebuilds/linux-{x64,arm64}/nsgroups.{glibc,musl}.node; do
    [ -f "$f" ] || { echo "missing $f"; return 1; }
  done
  local extra
  extra=$(find . -name '*.js.map' -o -name '*.cjs.map' -o -name '*.mjs.map' -o -path ./build -o -path ./lib \
    -o -path ./test -o -path ./node_modules -o -name '*.ts' ! -name '*.d.ts' ! -name '*.d.mts')
  [ -z "$extra" ] || { echo "should not ship: $extra"; return 1; }
  [ "$(find prebuilds -name '*.node' | wc -l)" -eq 4 ] || { find prebuilds; return 1; }
}
one_library_copy() { # one module defines NsgroupsError, and the bin and index.cjs both require it
  cd "$pkg/dist" || return 1
  local defs
  defs=$(grep -l 'NsgroupsError = class' ./*.cjs) || return 1
  echo "NsgroupsError defined in: $defs"
  [ "$(echo "$defs" | wc -l)" -eq 1 ] && [ "$defs" != ./cli.cjs ] || return 1
  for f in cli.cjs index.cjs; do
    grep -Fq -e "require('./${defs#./}')" -e "require(\"./${defs#./}\")" "$f" || { echo "$f does not require ${defs#./}"; return 1; }
  done
}
check "the tarball: dist, LICENSE, four prebuilds, the sources for a build from source; no maps, no build dir" tarball_contents
check "one copy of the library in dist: the bin and index.cjs require the one chunk that holds it" one_library_copy
for f in linux-x64/nsgroups.glibc.node linux-x64/nsgroups.musl.node linux-arm64/nsgroups.glibc.node linux-arm64/nsgroups.musl.node; do
  check "prebuild $f" node "$repo/scripts/check-prebuild.js" "$pkg/prebuilds/$f" --max-glibc=2.28
  show '^linux-'
done

# 3. install into empty projects, with no compiler to be found
nocc=$work/nocc-bin
mkdir -p "$nocc"
for d in /usr/local/sbin /usr/local/bin /usr/sbin /usr/bin /sbin /bin; do
  for f in "$d"/*; do
    n=${f##*/}
    [[ $n =~ ^(cc|c\+\+|cpp(-[0-9]+)?|gcc.*|g\+\+.*|clang.*|tcc|make|gmake|python[0-9.]*(-config)?|ld(\..*)?|as|zig|.*-linux-gnu-(gcc|g\+\+|cpp|ld|as|c\+\+).*)$ ]] && continue
    [ -x "$f" ] && [ ! -e "$nocc/$n" ] && ln -s "$f" "$nocc/$n"
  done
done
user_env=(env -u npm_config_nodedir PATH="$nocc" HOME="$work/home")
mkdir -p "$work/home"
check "no compiler on the users' PATH" "${user_env[@]}" sh -c '! command -v cc && ! command -v c++ && ! command -v gcc && ! command -v g++ && ! command -v make && ! command -v python3'
project=$work/project
mkdir -p "$project" && (cd "$project" && "${user_env[@]}" npm init -y >/dev/null)
check "npm install of the tarball (install scripts blocked)" "${user_env[@]}" sh -c "cd '$project' && npm install --no-audit --no-fund '$tarball'"
mkdir -p "$work/project2" && printf '{ "name": "p2", "version": "1.0.0", "allowScripts": { "nsgroups": true } }\n' > "$work/project2/package.json"
check "npm install with its install script approved (allowScripts): node-gyp-build takes the prebuild, compiles nothing" \
  "${user_env[@]}" sh -c "cd '$work/project2' && npm install --no-audit --no-fund '$tarball' && test ! -e node_modules/nsgroups/build"
cd "$project" || exit 1
cat > sandbox.js <<'JS'
// A sandbox through require(): pid 2 under the embedded init in a new pid namespace, on the
// addon file named by argv[2] (relative to node_modules/nsgroups), as /proc/self/maps shows.
const fs = require('fs');
const { run } = require('nsgroups');
run('sh', ['-c', 'echo $$'], { namespaces: ['user', 'pid'] }).then((r) => {
  if (r.stdout !== '2\n') throw new Error(`pid ${r.stdout}`);
  const want = fs.realpathSync(`node_modules/nsgroups/${process.argv[2]}`);
  const mapped = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').filter((l) => l.endsWith('.node'));
  if (!mapped.some((l) => l.endsWith(want))) throw new Error(`not ${want}:\n${mapped.join('\n')}`);
});
JS
check "require() runs a sandbox (pid 2 under the embedded init) on the shipped linux-x64 glibc prebuild" \
  "${user_env[@]}" sh -c 'node sandbox.js prebuilds/linux-x64/nsgroups.glibc.node && test ! -e node_modules/nsgroups/build'
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
check "import runs a sandbox; one NsgroupsError class for import and require" "${user_env[@]}" node esm.mjs
check "the nsgroups bin" "${user_env[@]}" sh -c 'test "$(npx --no-install nsgroups run --hostname bin -- hostname)" = bin'
cat > subpaths.mjs <<'JS'
// The test-runner integrations' subpaths (package.json "exports"), from import and require; the
// jest environment's peer (jest-environment-node) comes from NODE_PATH, as a user's jest has it.
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const { Sandbox } = require('nsgroups');
const want = { 'nsgroups/node-test': 'sandbox', 'nsgroups/jest': 'useSandbox', 'nsgroups/vitest': 'sandboxFixture', 'nsgroups/jest-environment': 'default' };
for (const [name, fn] of Object.entries(want)) {
  const esm = await import(name);
  const cjs = require(name);
  if (typeof esm[fn] !== 'function' || typeof (fn === 'default' ? cjs.default : cjs[fn]) !== 'function') throw new Error(`${name}: no ${fn}`);
  if (esm.Sandbox !== Sandbox || cjs.Sandbox !== Sandbox) throw new Error(`${name}: a second copy of the library`);
}
console.log(`${Object.keys(want).join(', ')}: import and require, one Sandbox class`);
JS
check "the integrations' subpaths load (import and require), with one copy of the library" \
  "${user_env[@]}" NODE_PATH="$repo/node_modules" node subpaths.mjs
show 'import and require'
mkdir -p examples && cp -r "$repo/examples/node-test" "$repo/examples/project" examples/
# (the commands run inside the sandboxes, whose /tmp is their own: PATH is the system's here)
check "examples/node-test, run against the installed package (node --test, a Sandbox per test)" \
  "${user_env[@]}" PATH=/usr/local/bin:/usr/bin:/bin sh -c 'node --test examples/node-test/ && test ! -e examples/project/dist'

# 4. a platform with no prebuild: one clear error, and the build from source it points to
mv node_modules/nsgroups/prebuilds/linux-x64 "$work/prebuilds-x64"
check "no prebuild for this platform: one ERR_UNSUPPORTED naming linux-x64 (glibc) and the fix" "${user_env[@]}" node -e "
  const { run, NsgroupsError } = require('nsgroups');
  run('true').then(() => { throw new Error('ran without an addon'); }, (e) => {
    if (!(e instanceof NsgroupsError) || e.code !== 'ERR_UNSUPPORTED') throw e;
    for (const s of ['linux-x64 (glibc)', 'npm install-scripts approve nsgroups && npm rebuild nsgroups']) if (!e.message.includes(s)) throw new Error('message lacks ' + s + ': ' + e.message);
    console.log(e.message);
  });"
show 'not available'
check "its fix, as the message says it (with a compiler): the build from the shipped sources runs a sandbox" sh -c \
  'npm install-scripts approve nsgroups && npm rebuild nsgroups && node sandbox.js build/Release/nsgroups.node'
rm -rf node_modules/nsgroups/build && mv "$work/prebuilds-x64" node_modules/nsgroups/prebuilds/linux-x64

# 5. the other three prebuilds, as far as this x86-64 glibc machine can take them
cat > arm64.js <<'JS'
// In an arm64 Node under qemu-user: the arm64 glibc prebuild loads and spawns a process. Debian
// 12's qemu-user (7.2) refuses clone with CLONE_PIDFD (EINVAL; it knows no clone3 either), and
// every spawn asks for a pidfd: then the addon must have got as far as that clone and turned its
// refusal into a typed error (a C++ exception through the arm64 unwinder). Says which it saw.
const fs = require('fs');
const { run, NsgroupsError } = require('nsgroups');
run('/bin/echo', ['from arm64']).then(
  (r) => {
    if (r.stdout !== 'from arm64\n' || r.code !== 0) throw new Error(JSON.stringify(r));
    return `spawned pid ${r.pid}`;
  },
  (e) => {
    if (!(e instanceof NsgroupsError) || e.syscall !== 'clone' || e.errno !== -22) throw e;
    return 'spawn refused by qemu-user at clone(CLONE_PIDFD): EINVAL, as a typed ERR_SYSTEM';
  },
).then((outcome) => {
  const maps = fs.readFileSync('/proc/self/maps', 'utf8');
  if (!maps.includes('/prebuilds/linux-arm64/nsgroups.glibc.node')) throw new Error('not the arm64 glibc prebuild');
  console.log(`${process.arch} node ${process.version}: linux-arm64/nsgroups.glibc.node loaded; ${outcome}`);
});
JS
if arm64_node=$(bash "$repo/tools/arm64-node.sh" 2>"$work/arm64.log"); then
  check "linux-arm64 glibc prebuild in an arm64 node under qemu-user ($(qemu-aarch64-static --version | head -1 | cut -d' ' -f3))" "$arm64_node" arm64.js
  show '^arm64 '
else
  failed=$((failed + 1)); echo "  FAIL  linux-arm64 glibc prebuild under qemu-user: no arm64 node"; sed 's/^/        /' "$work/arm64.log" | tail -10
fi
for a in x64 arm64; do
  check "linux-$a musl prebuild: dlopen by musl's own loader resolves it (no musl Node here)" \
    bash "$repo/tools/musl-dlopen.sh" "$a" "node_modules/nsgroups/prebuilds/linux-$a/nsgroups.musl.node"
done

cd "$repo"
echo "package: $passed passed, $failed failed, 0 skipped"
if [ -n "${NSGROUPS_LANE_RESULT:-}" ]; then
  printf '{"passed":%d,"failed":%d,"skipped":0}\n' "$passed" "$failed" > "$NSGROUPS_LANE_RESULT"
fi
[ "$failed" -eq 0 ]
