#!/usr/bin/env bash
# Pack-and-install proof: the package as npm would publish it works for a consumer with no Rust
# toolchain. Packs the main package and this host's platform package, installs both into an
# empty project with cargo/rustc removed from PATH, and runs an ESM script, a CommonJS script, a
# worker_threads script and `tsc --noEmit` (moduleResolution node16 and bundler) against the
# public API, then the same for quiver-search/langchain once @langchain/core is installed.
# Also checks the tarballs' contents and sizes and the loader's message when the
# platform package is missing, then hands the same project to scripts/smoke-runtimes.sh, which
# runs the consumers on Node 18, 22 and 24, Bun and Deno installed from the npm registry.
# Needs a built tree (npm run build). Run from anywhere: bash scripts/smoke-pack.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# shellcheck source=scripts/smoke-lib.sh
. "$root/scripts/smoke-lib.sh"

# Size budgets (bytes): the main tarball carries JS, types, docs, the CLI and the demo's data
# (778 x 384 float32 embeddings, 1.2 MB, which barely compress); the binary everything else.
MAIN_TGZ_BUDGET=$((2 * 1024 * 1024))
BINARY_BUDGET=$((8 * 1024 * 1024))

fail() { echo "smoke-pack: FAIL: $*" >&2; exit 1; }

plat=$(smoke_platform)
binary="native/quiver-search.${plat}.node"

work=$(mktemp -d)
trap 'rm -rf "$work" "npm/$plat/quiver-search.${plat}.node"' EXIT
smoke_pack "$work" "$plat"

# --- tarball contents and sizes ------------------------------------------------------------
main_list=$(tar -tzf "$main_tgz")
for bad in '\.map$' '/target/' '__test__' '/crates/' '/bindings/' '\.node$' '/ts/' '/bench/'; do
  if echo "$main_list" | grep -Eq "$bad"; then fail "main tarball contains $bad: $(echo "$main_list" | grep -E "$bad" | head -3)"; fi
done
for need in package/dist/index.js package/dist/index.mjs package/dist/index.d.ts package/dist/langchain.js package/dist/langchain.mjs package/dist/langchain.d.ts package/native/index.js package/README.md package/LICENSE; do
  echo "$main_list" | grep -qx "$need" || fail "main tarball lacks $need"
done
[ "$(tar -tzf "$plat_tgz" | grep -v "^package/README.md$" | sort | tr "\n" " ")" = "package/package.json package/quiver-search.${plat}.node " ] ||
  fail "platform tarball holds more than package.json and the binary: $(tar -tzf "$plat_tgz" | tr '\n' ' ')"
main_size=$(wc -c < "$main_tgz" | tr -d " ")
bin_size=$(wc -c < "$binary" | tr -d " ")
[ "$main_size" -le "$MAIN_TGZ_BUDGET" ] || fail "main tarball is $main_size bytes (budget $MAIN_TGZ_BUDGET)"
[ "$bin_size" -le "$BINARY_BUDGET" ] || fail "binary is $bin_size bytes (budget $BINARY_BUDGET)"
echo "smoke-pack: main tarball $main_size bytes (budget $MAIN_TGZ_BUDGET), $plat binary $bin_size bytes (budget $BINARY_BUDGET)"

# --- a PATH without cargo or rustc --------------------------------------------------------------
clean_path=$(smoke_clean_path)

# --- consumer project -----------------------------------------------------------------------
app="$work/app"
smoke_consumer_app "$app" "$clean_path"
(
  cd "$app"
  export PATH="$clean_path"
  node consumer.mjs
  node consumer.cjs
  node worker.mjs
  npx --no-install tsc -p tsconfig.node16.json
  npx --no-install tsc -p tsconfig.bundler.json
  # Output captured first: `cmd | grep -q` closes the pipe at the first match, the CLI's next write
  # then dies of EPIPE and pipefail turns a pass into a failure.
  info=$(npx --no-install quiver-search info)
  grep -q "quiver-search-$plat" <<< "$info" || fail "quiver-search info does not name the platform package"
  demo=$(npx --no-install quiver-search demo)
  grep -q "recall@10 vs exact search" <<< "$demo" || fail "quiver-search demo did not run"
  echo "smoke-pack: ESM, CommonJS, worker, tsc (node16, bundler) and the CLI (info, demo) pass with no cargo/rustc on PATH"
  # quiver-search/langchain: without the optional peer @langchain/core the subpath fails to load
  # (naming it) while the root entry above worked; with it, ESM, CommonJS and types work.
  node -e '
    try { require("quiver-search/langchain"); console.error("loaded without @langchain/core?"); process.exit(1) }
    catch (e) { if (e.code !== "MODULE_NOT_FOUND" || !e.message.includes("@langchain/core")) { console.error(e); process.exit(1) } }'
  npm install --no-audit --no-fund --loglevel=error "@langchain/core@^1" >/dev/null
  node langchain-consumer.mjs
  node langchain-consumer.cjs
  npx --no-install tsc --noEmit --strict --skipLibCheck --target ES2020 --types node --module node16 --moduleResolution node16 langchain-consumer.ts
  npx --no-install tsc --noEmit --strict --skipLibCheck --target ES2020 --types node --module esnext --moduleResolution bundler langchain-consumer.ts
  echo "smoke-pack: quiver-search/langchain: ESM, CommonJS and tsc (node16, bundler) pass; without @langchain/core only the subpath fails"
)

# --- the platform package missing: the loader's message ------------------------------------------
bare="$work/bare"
mkdir -p "$bare"
(
  cd "$bare"
  export PATH="$clean_path"
  npm init -y >/dev/null
  npm install --no-audit --no-fund --loglevel=error "$main_tgz" >/dev/null
  node -e '
    const { VectorIndex } = require("quiver-search")
    try { new VectorIndex({ dim: 4 }); console.error("loaded without a binary?"); process.exit(1) }
    catch (e) {
      const want = ["ERR_UNSUPPORTED_PLATFORM", process.platform, process.arch, "quiver-search-'"$plat"'"]
      const text = e.code + " " + e.message
      for (const w of want) if (!text.includes(w)) { console.error("message lacks " + w + ": " + text); process.exit(1) }
    }'
  echo "smoke-pack: without the platform package, the loader names platform, arch and the package to install"
)

# --- the same project on Node 18, 22, 24, Bun and Deno (installed from the npm registry) -----
# QUIVER_SMOKE_RUNTIMES=0 skips this step, saying so: CI matrix rows set it so that one row per
# OS runs it, since every row would install and test the same five runtimes.
if [ "${QUIVER_SMOKE_RUNTIMES:-1}" = 0 ]; then
  echo "smoke-pack: QUIVER_SMOKE_RUNTIMES=0: Node 18/22/24, Bun and Deno NOT tested in this run"
else
  bash "$root/scripts/smoke-runtimes.sh" "$app"
fi
echo "smoke-pack: OK"
