#!/usr/bin/env bash
# Builds the real components the tests run beside ChargePlane from their official Go modules,
# into a cache outside the repository (never committed):
#   etcd    go.etcd.io/etcd/server/v3                          (tools/etcd/go.mod)
#   k8s     kube-apiserver, kube-controller-manager, kubectl   (tools/k8s/go.mod: k8s.io/kubernetes
#           with every k8s.io/* staging module pinned to its v0.x release)
#   jaeger  Jaeger v2 all-in-one, github.com/jaegertracing/jaeger/cmd/jaeger (tools/jaeger/go.mod)
#   prometheus  promtool, github.com/prometheus/prometheus/cmd/promtool (tools/prometheus/go.mod):
#           checks and unit-tests the chart's PrometheusRule
# A build lands in $CHARGEPLANE_TOOLS/<name>-<hash of its go.mod and go.sum>/ (default
# ~/.cache/chargeplane/tools), so an unchanged go.mod is never built twice and a changed one
# is built again. tests/support/tools.py finds the binaries the same way.
#
#   scripts/build-tools.sh [etcd|k8s|jaeger|prometheus ...]     (no argument: all four)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${CHARGEPLANE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/chargeplane/tools}
command -v go >/dev/null || { echo "build-tools: Go is not installed (https://go.dev/doc/install)" >&2; exit 1; }

# The version a module's go.mod requires, e.g. `required k8s k8s.io/kubernetes` -> v1.35.4.
required() { sed -n "s|^[[:space:]]*$2 \(v[^ ]*\).*|\1|p" "$root/tools/$1/go.mod" | head -1; }

ldflags() {
  case $1 in
    k8s)  # what the Kubernetes release build stamps: kubectl version and helm's KubeVersion read it
      local v minor; v=$(required k8s k8s.io/kubernetes); minor=${v#v1.}; minor=${minor%%.*}
      local flags="-s -w"
      for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
        flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
      done
      echo "$flags" ;;
    *) echo "-s -w" ;;
  esac
}

for name in "${@:-etcd k8s jaeger prometheus}"; do
  for one in $name; do
    dir=$root/tools/$one
    [ -f "$dir/go.mod" ] || { echo "build-tools: no tools/$one/go.mod" >&2; exit 1; }
    key=$(cat "$dir/go.mod" "$dir/go.sum" | sha256sum | cut -c1-12)
    out=$cache/$one-$key
    if [ -f "$out/.built" ]; then
      echo "build-tools: $one is built ($out)"
      continue
    fi
    echo "build-tools: building $one into $out (cold: minutes; see README)"
    start=$(date +%s)
    mkdir -p "$out"
    (cd "$dir" && go build -trimpath -ldflags "$(ldflags "$one")" -o "$out/" tool)
    # etcd's main package is go.etcd.io/etcd/server/v3, which Go names `server`
    [ "$one" != etcd ] || mv "$out/server" "$out/etcd"
    touch "$out/.built"
    echo "build-tools: $one built in $(( $(date +%s) - start )) s: $(ls "$out" | tr '\n' ' ')"
  done
done
