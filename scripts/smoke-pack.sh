#!/usr/bin/env bash
# Pack-and-install proof: the package as npm would publish it works for a consumer with no Rust
# toolchain. Packs the main package and this host's platform package, installs both into an
# empty project with cargo/rustc removed from PATH, and runs an ESM script, a CommonJS script
# and `tsc --noEmit` (moduleResolution node16 and bundler) against the public API, then the same
# for quiver-search/langchain once @langchain/core is installed. Also checks
# the tarballs' contents and sizes, the loader's message when the platform package is missing,
# and, where Debian's Node 18 can be unpacked beside the machine's Node, the scripts on Node 18.
# Needs a built tree (npm run build). Run from anywhere: bash scripts/smoke-pack.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

# Size budgets (bytes): the main tarball carries JS, types, docs, the CLI and the demo's data
# (778 x 384 float32 embeddings, 1.2 MB, which barely compress); the binary everything else.
MAIN_TGZ_BUDGET=$((2 * 1024 * 1024))
BINARY_BUDGET=$((8 * 1024 * 1024))

fail() { echo "smoke-pack: FAIL: $*" >&2; exit 1; }

plat=$(node -e '
  const { platform, arch } = process
  let abi = ""
  if (platform === "linux") abi = process.report.getReport().header.glibcVersionRuntime ? "-gnu" : "-musl"
  else if (platform === "win32") abi = "-msvc"
  console.log(`${platform}-${arch}${abi}`)')
binary="native/quiver-search.${plat}.node"
[ -f "$binary" ] || fail "$binary is missing: run npm run build first"
[ -d "npm/$plat" ] || fail "npm/$plat is missing (napi create-npm-dirs)"

work=$(mktemp -d)
trap 'rm -rf "$work" "npm/$plat/quiver-search.${plat}.node"' EXIT
cp "$binary" "npm/$plat/"

main_tgz="$work/$(npm pack --silent --pack-destination "$work" | tail -1)"
plat_tgz="$work/$(cd "npm/$plat" && npm pack --silent --pack-destination "$work" | tail -1)"

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
clean_path=""
IFS=':' read -ra dirs <<< "$PATH"
for d in "${dirs[@]}"; do
  if [ -x "$d/cargo" ] || [ -x "$d/rustc" ]; then continue; fi
  clean_path="${clean_path:+$clean_path:}$d"
done
if PATH="$clean_path" command -v cargo >/dev/null 2>&1 || PATH="$clean_path" command -v rustc >/dev/null 2>&1; then
  fail "could not build a PATH without cargo/rustc"
fi

# --- consumer project -----------------------------------------------------------------------
app="$work/app"
mkdir -p "$app"
cp "$root/scripts/smoke/"* "$app/"
(
  cd "$app"
  export PATH="$clean_path"
  npm init -y >/dev/null
  npm install --no-audit --no-fund --loglevel=error "$main_tgz" "$plat_tgz" typescript@5 @types/node@20 >/dev/null
  node consumer.mjs
  node consumer.cjs
  npx --no-install tsc -p tsconfig.node16.json
  npx --no-install tsc -p tsconfig.bundler.json
  npx --no-install quiver-search info | grep -q "quiver-search-$plat" || fail "quiver-search info does not name the platform package"
  npx --no-install quiver-search demo | grep -q "recall@10 vs exact search" || fail "quiver-search demo did not run"
  echo "smoke-pack: ESM, CommonJS, tsc (node16, bundler) and the CLI (info, demo) pass with no cargo/rustc on PATH"
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

# --- Node 18 from Debian's packages, unpacked beside the machine's Node ---------------------
if command -v apt-get >/dev/null 2>&1 && command -v dpkg >/dev/null 2>&1; then
  n18="$work/node18"
  mkdir -p "$n18"
  if (cd "$n18" && apt-get download nodejs=18.20.4+dfsg-1~deb12u2 libnode108=18.20.4+dfsg-1~deb12u2 libuv1 libc-ares2 >/dev/null 2>&1); then
    for f in "$n18"/*.deb; do dpkg -x "$f" "$n18/root"; done
    node18=("env" "LD_LIBRARY_PATH=$n18/root/usr/lib/x86_64-linux-gnu" "$n18/root/usr/bin/node")
    if bash -c '"$@" -e 0; exit $?' _ "${node18[@]}" >/dev/null 2>&1; then
      v=$("${node18[@]}" --version)
      (cd "$app" && "${node18[@]}" consumer.mjs && "${node18[@]}" consumer.cjs)
      echo "smoke-pack: ESM and CommonJS consumers pass on Node $v (Debian package)"
    else
      # Debian's build loads acorn, cjs-module-lexer and undici from /usr/share/nodejs (fixed
      # paths): unpacked elsewhere it cannot start, and installing it would replace this
      # machine's Node.
      echo "smoke-pack: Debian's Node 18 needs its JS deps installed under /usr/share/nodejs; skipped that step"
    fi
  else
    echo "smoke-pack: Debian's Node 18 could not be downloaded here; skipped that step"
  fi
fi
echo "smoke-pack: OK"
