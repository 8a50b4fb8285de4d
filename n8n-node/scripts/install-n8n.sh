#!/usr/bin/env bash
# Installs the Node.js 24 and the n8n that the live tests run against into a
# cache outside the repository (one folder per version, reused across runs),
# and prints the two folders as shell assignments (NODE24_BIN=..., N8N_HOME=...).
set -euo pipefail

node_version=${HOOKBRIDGE_N8N_NODE_VERSION:-24.22.3}
n8n_version=${HOOKBRIDGE_N8N_VERSION:-2.39.10}
cache=${HOOKBRIDGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hookbridge}

case "$(uname -m)" in
  x86_64) node_arch=x64 ;;
  aarch64) node_arch=arm64 ;;
  *) echo "install-n8n: no Node.js package for $(uname -m)" >&2; exit 1 ;;
esac

# Node.js 24 from npm's node-linux-<arch> package: its binary ships inside
# the package (the `node` package would need its install script to fetch it).
node_home=$cache/node-$node_version-$node_arch
node_bin=$node_home/node_modules/node-linux-$node_arch/bin
if [ ! -f "$node_home/.installed" ]; then
  rm -rf "$node_home"
  mkdir -p "$node_home"
  npm install --prefix "$node_home" --no-audit --no-fund --no-save --loglevel=error \
    "node-linux-$node_arch@$node_version" >&2
  "$node_bin/node" --version >/dev/null
  touch "$node_home/.installed"
fi

# n8n without install scripts (a Kafka client's addon would download a
# prebuilt binary, which cannot work offline), then the one native addon n8n
# needs for its default SQLite database, built for Node.js 24.
n8n_home=$cache/n8n-$n8n_version-node-$node_version
if [ ! -f "$n8n_home/.installed" ]; then
  rm -rf "$n8n_home"
  mkdir -p "$n8n_home"
  echo "install-n8n: installing n8n $n8n_version into $n8n_home (takes minutes once)" >&2
  npm install --prefix "$n8n_home" --no-audit --no-fund --no-save --loglevel=error --ignore-scripts \
    "n8n@$n8n_version" >&2
  (cd "$n8n_home" && PATH="$node_bin:$PATH" npm rebuild sqlite3 --loglevel=error >&2)
  touch "$n8n_home/.installed"
fi

echo "NODE24_BIN=$node_bin"
echo "N8N_HOME=$n8n_home"
