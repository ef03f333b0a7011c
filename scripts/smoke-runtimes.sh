#!/usr/bin/env bash
# Every runtime tested for real: installs Node 18, 22 and 24, Bun and Deno from the npm registry
# (their official binaries: node-<os>-<arch>, @oven/bun-<os>-<arch>, deno with @deno/<platform>)
# into a scratch folder, and runs the packed-package consumers on each: the ESM consumer (async
# add and search, save, memory-mapped load, typed errors), the CommonJS consumer (sync API,
# save/load) and a worker_threads consumer (the addon loaded in a Worker, sync and async search).
# Prints one summary line per runtime.
#
#   bash scripts/smoke-runtimes.sh [APP_DIR]
#
# APP_DIR is the consumer project scripts/smoke-pack.sh sets up (it calls this script with it);
# without it, this script packs and installs its own (needs a built tree: npm run build).
#
# Outcome rules: a runtime that cannot be installed from the registry is reported as SKIPPED
# (set SMOKE_RUNTIMES_STRICT=1 to fail instead); a runtime that installs but fails a check fails
# the script, unless that runtime/check pair is listed in known_failure() below with its reason.
# Bun and Deno must not be mistaken for Node: each consumer prints the runtime it ran on and
# the check only passes when that is the runtime under test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/smoke-lib.sh
. "$root/scripts/smoke-lib.sh"

# Runtimes tested, as "name|npm package spec" per line; the package's major tag picks the newest
# release of that line. Bun and Deno follow their latest release.
os=$(node -p 'process.platform')
arch=$(node -p 'process.arch')
bun_arch=$([ "$arch" = arm64 ] && echo aarch64 || echo "$arch")
runtimes=(
  "node18|node-$os-$arch@18"
  "node22|node-$os-$arch@22"
  "node24|node-$os-$arch@24"
  "bun|@oven/bun-$os-$bun_arch"
  "deno|deno"
)

# Known failures: prints why runtime:check is expected to fail (and why it is not ours to fix),
# nothing otherwise. A listed pair is reported as "known failure" and does not fail the script; one
# that starts passing is reported so its entry can be removed. Runtimes are node18, node22, node24,
# bun and deno; checks are esm, cjs, worker and (Deno only) perms and denied. A case statement, not an
# associative array: macOS's /bin/bash 3.2 has none. Empty today: every runtime passes.
known_failure() {
  case "$1" in
    # deno:worker) echo "Deno 2.x: <the runtime limitation>" ;;
    *) ;;
  esac
}

per_check_timeout=120
strict="${SMOKE_RUNTIMES_STRICT:-0}"
# GNU timeout guards each check against a hung runtime; macOS has none by default.
limit=()
if command -v timeout >/dev/null 2>&1; then limit=(timeout "$per_check_timeout"); fi

# The registry's runtime packages above are laid out for Linux (glibc) and macOS: Windows ships
# other package names and .exe files, and neither Node's nor Deno's packages run on musl. Say so
# rather than try, fail and blame the runtime.
host=$(smoke_platform)
case "$host" in
  linux-*-gnu | darwin-*) ;;
  *)
    echo "smoke-runtimes: SKIPPED on $host: the npm registry's Node, Bun and Deno packages are wired up here for Linux (glibc) and macOS only"
    if [ "$strict" = 1 ]; then smoke_fail "SMOKE_RUNTIMES_STRICT=1 and no runtime can be tested on $host"; fi
    exit 0
    ;;
esac

scratch=$(mktemp -d)
plat=""
trap 'rm -rf "$scratch"; if [ -n "$plat" ]; then rm -f "$root/npm/$plat/quiver-search.$plat.node"; fi' EXIT
clean_path=$(smoke_clean_path)

# --- the consumer project -------------------------------------------------------------------
if [ $# -ge 1 ]; then
  app="$(cd "$1" && pwd)"
  [ -d "$app/node_modules/quiver-search" ] || smoke_fail "$app has no quiver-search installed"
else
  plat="$host"
  smoke_pack "$scratch" "$plat"
  app="$scratch/app"
  smoke_consumer_app "$app" "$clean_path"
fi
for f in consumer.mjs consumer.cjs worker.mjs; do
  [ -f "$app/$f" ] || smoke_fail "$app/$f is missing"
done

# --- install a runtime: prints the path of its executable, or nothing ----------------------
# One folder per runtime (the Node versions share a package name). --ignore-scripts: nothing from
# these packages runs at install time; each ships its binary inside the tarball (deno's own
# postinstall only rewrites its bin shim, the binary is in @deno/<platform>).
install_runtime() {
  local name="$1" spec="$2" dir="$scratch/runtime-$1"
  mkdir -p "$dir"
  echo "{\"name\":\"smoke-runtime-$name\",\"private\":true}" > "$dir/package.json"
  if ! npm install --prefix "$dir" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "$spec" \
    > "$dir/install.log" 2>&1; then
    return 0
  fi
  local bin
  case "$name" in
    node*) bin="$dir/node_modules/node-$os-$arch/bin/node" ;;
    bun) bin="$dir/node_modules/@oven/bun-$os-$bun_arch/bin/bun" ;;
    deno) bin=$(find "$dir/node_modules/@deno" -mindepth 2 -maxdepth 2 -name deno -type f 2>/dev/null | head -1) ;;
  esac
  if [ -n "$bin" ] && [ -x "$bin" ]; then echo "$bin"; fi
}

# --- the command that runs a script on a runtime --------------------------------------------
# Deno: -A grants the file, env, FFI (napi) and worker permissions the consumers need;
# --node-modules-dir=manual resolves `quiver-search` from the project's node_modules as Node
# does, and --cached-only forbids any download. DENO_DIR keeps its caches in the scratch folder.
# The "perms" check (Deno only) runs the ESM consumer with the narrowest flags the README gives
# users instead of -A: no --allow-sys, no --allow-net. The "denied" check leaves out --allow-env,
# which the napi loader needs, and expects the error that says so instead of "no binary".
# Sets cmd, the command line (an array: scratch paths may hold spaces).
set_runner() {
  local name="$1" bin="$2" check="$3"
  local deno_flags=(--node-modules-dir=manual --cached-only)
  case "$name:$check" in
    deno:perms) cmd=("$bin" run --allow-ffi --allow-read --allow-write --allow-env "${deno_flags[@]}") ;;
    deno:denied) cmd=("$bin" run --allow-ffi --allow-read --allow-write "${deno_flags[@]}") ;;
    deno:*) cmd=("$bin" run -A "${deno_flags[@]}") ;;
    *) cmd=("$bin") ;;
  esac
}

failed=0
summaries=()
for entry in "${runtimes[@]}"; do
  name="${entry%%|*}"
  spec="${entry#*|}"
  bin=$(install_runtime "$name" "$spec")
  if [ -z "$bin" ]; then
    line="runtime $name: SKIPPED, could not install $spec from the npm registry"
    echo "smoke-runtimes: $line" >&2
    [ -f "$scratch/runtime-$name/install.log" ] && tail -5 "$scratch/runtime-$name/install.log" >&2
    summaries+=("$line")
    if [ "$strict" = 1 ]; then failed=1; fi
    continue
  fi
  # `--version` prints v18.20.8, 1.4.5 or "deno 2.9.6 (stable, ...)": keep the number.
  version=$("$bin" --version 2>&1 | grep -Eo '[0-9]+\.[0-9]+\.[0-9]+' | head -1 || true)
  [ -n "$version" ] || version="(no version: $("$bin" --version 2>&1 | head -1))"
  # The Node packages are picked by major tag: make sure the binary is the line asked for.
  case "$name" in
    node*) [[ "$version" == "${name#node}".* ]] || smoke_fail "$spec installed Node $version" ;;
  esac
  checks=(esm cjs worker)
  if [ "$name" = deno ]; then checks+=(perms denied); fi
  results=()
  for check in "${checks[@]}"; do
    case "$check" in
      esm) script=consumer.mjs label=ESM ;;
      cjs) script=consumer.cjs label=CJS ;;
      worker) script=worker.mjs label=worker ;;
      perms) script=consumer.mjs label="least permissions" ;;
      denied) script=consumer.mjs label="permission message" ;;
    esac
    set_runner "$name" "$bin" "$check"
    log="$scratch/$name-$check.log"
    if (cd "$app" && PATH="$clean_path" DENO_DIR="$scratch/deno-dir" DENO_NO_UPDATE_CHECK=1 NO_COLOR=1 \
      ${limit[@]+"${limit[@]}"} "${cmd[@]}" "$script") > "$log" 2>&1; then
      ran=1
    else
      ran=0
    fi
    if [ "$check" = denied ]; then
      # Must fail, with the message that names the missing permission (not "no binary").
      if [ "$ran" = 0 ] && grep -q "Deno denied a permission the loader needs" "$log"; then ok=1; else ok=0; fi
    elif [ "$ran" = 1 ] && grep -q "ok (${name%%[0-9]*} $version" "$log"; then
      # Each consumer names the runtime it ran on: proof the check did not run on another one.
      ok=1
    else
      ok=0
    fi
    reason=$(known_failure "$name:$check")
    if [ "$ok" = 1 ] && [ -z "$reason" ]; then
      results+=("$label ok")
    elif [ "$ok" = 1 ]; then
      results+=("$label ok (listed as a known failure: remove the entry)")
    elif [ -n "$reason" ]; then
      results+=("$label known failure ($reason)")
    else
      results+=("$label FAILED")
      failed=1
      echo "smoke-runtimes: $name $script failed:" >&2
      tail -20 "$log" >&2
    fi
  done
  line="runtime ${name%%[0-9]*} $version: $(IFS=','; echo "${results[*]}" | sed 's/,/, /g')"
  echo "smoke-runtimes: $line"
  summaries+=("$line")
done

echo "smoke-runtimes: summary"
printf '  %s\n' "${summaries[@]}"
if [ "$failed" = 1 ]; then smoke_fail "a runtime failed the smoke test (see above)"; fi
echo "smoke-runtimes: OK"
