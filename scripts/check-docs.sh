#!/usr/bin/env bash
# The API reference (docs/api, TypeDoc with typedoc-plugin-markdown, typedoc.json) is rebuilt from
# the sources: any TypeDoc warning fails (treatWarningsAsErrors), and so does a reference that
# differs from the committed one (run `npm run docs:api` and commit docs/api).
set -uo pipefail
cd "$(dirname "$0")/.."
npx typedoc || { echo "check-docs: typedoc failed or warned (see above)"; exit 1; }
drift=$(git status --porcelain -- docs/api)
if [ -n "$drift" ]; then
  echo "$drift" | head -20
  git --no-pager diff --stat -- docs/api | tail -5
  echo "check-docs: docs/api is not what the sources generate: run \`npm run docs:api\` and commit docs/api"
  exit 1
fi
echo "check-docs: docs/api matches the sources ($(find docs/api -name '*.md' | wc -l) pages)"
