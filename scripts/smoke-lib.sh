# Shared setup of the packed-package smoke tests, sourced (not run) by scripts/smoke-pack.sh and
# scripts/smoke-runtimes.sh so that both test the very same consumer project: the main package and
# this host's platform package packed as npm would publish them, installed into an empty project
# whose PATH holds no cargo or rustc. Expects `root` (the repository root) to be set and
# `set -euo pipefail` in the caller.

smoke_fail() {
  echo "smoke: FAIL: $*" >&2
  exit 1
}

# This host's napi platform triple, as the loader in native/index.js spells it (linux-x64-gnu, ...).
smoke_platform() {
  node -e '
    const { platform, arch } = process
    let abi = ""
    if (platform === "linux") abi = process.report.getReport().header.glibcVersionRuntime ? "-gnu" : "-musl"
    else if (platform === "win32") abi = "-msvc"
    console.log(`${platform}-${arch}${abi}`)'
}

# PATH with every directory that holds cargo or rustc removed: the consumer must not need Rust.
smoke_clean_path() {
  local clean="" d
  local -a dirs
  IFS=':' read -ra dirs <<< "$PATH"
  for d in "${dirs[@]}"; do
    if [ -x "$d/cargo" ] || [ -x "$d/rustc" ]; then continue; fi
    clean="${clean:+$clean:}$d"
  done
  if PATH="$clean" command -v cargo >/dev/null 2>&1 || PATH="$clean" command -v rustc >/dev/null 2>&1; then
    smoke_fail "could not build a PATH without cargo/rustc"
  fi
  echo "$clean"
}

# smoke_pack WORK PLAT: packs the main package and the platform package into WORK and sets
# main_tgz and plat_tgz. The binary is copied into npm/PLAT only for the pack and removed after.
smoke_pack() {
  local work="$1" plat="$2"
  local binary="native/quiver-search.${plat}.node"
  [ -f "$root/$binary" ] || smoke_fail "$binary is missing: run npm run build first"
  [ -d "$root/npm/$plat" ] || smoke_fail "npm/$plat is missing (napi create-npm-dirs)"
  cp "$root/$binary" "$root/npm/$plat/"
  main_tgz="$work/$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -1)"
  plat_tgz="$work/$(cd "$root/npm/$plat" && npm pack --silent --pack-destination "$work" | tail -1)"
  rm -f "$root/npm/$plat/quiver-search.${plat}.node"
}

# smoke_consumer_app APP CLEAN_PATH: an empty npm project in APP with both tarballs, TypeScript
# and Node's types installed, and the consumer scripts of scripts/smoke/ copied in.
smoke_consumer_app() {
  local app="$1" clean_path="$2"
  mkdir -p "$app"
  cp "$root/scripts/smoke/"* "$app/"
  (
    cd "$app"
    export PATH="$clean_path"
    npm init -y >/dev/null
    npm install --no-audit --no-fund --loglevel=error "$main_tgz" "$plat_tgz" typescript@5 @types/node@20 >/dev/null
  )
}
