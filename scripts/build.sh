#!/bin/sh
# Builds identityd: a static binary (CGO_ENABLED=0), without local paths
# (-trimpath), stripped (-s -w), stamped with its version, commit and date
# (package internal/buildinfo). The Dockerfile runs this script too, so
# there is one definition of the release build.
#
#   scripts/build.sh [-o OUTPUT]          default output: bin/identityd
#
# VERSION, COMMIT and DATE override what is read from git and the clock:
#   VERSION  git describe --tags --always --dirty, else "dev"
#   COMMIT   git rev-parse HEAD, else empty (the toolchain's VCS stamp is then used)
#   DATE     now, UTC, RFC 3339
# GOOS and GOARCH cross-compile as usual.
set -eu

out=
while [ $# -gt 0 ]; do
	case "$1" in
	-o)
		[ $# -ge 2 ] || { echo "build.sh: -o needs a path" >&2; exit 2; }
		out=$2
		shift 2
		;;
	-o=*)
		out=${1#-o=}
		shift
		;;
	-h | --help)
		sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "build.sh: unknown argument $1 (usage: scripts/build.sh [-o OUTPUT])" >&2
		exit 2
		;;
	esac
done

# A relative -o is the caller's; then run from the module root whatever
# the caller's directory.
case "$out" in
"") out=bin/identityd ;;
/*) ;;
*) out=$(pwd)/$out ;;
esac
cd "$(dirname "$0")/.."

if [ -z "${VERSION:-}" ]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || true)
	[ -n "$VERSION" ] || VERSION=dev
fi
if [ -z "${COMMIT:-}" ]; then
	COMMIT=$(git rev-parse HEAD 2>/dev/null || true)
fi
if [ -z "${DATE:-}" ]; then
	DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ)
fi

pkg=github.com/identityd/identityd/internal/buildinfo
ldflags="-s -w -X $pkg.Version=$VERSION -X $pkg.Commit=$COMMIT -X $pkg.Date=$DATE"

mkdir -p "$(dirname "$out")"
CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out" ./cmd/identityd
echo "built $out ($VERSION ${COMMIT:-no commit} $DATE)" >&2
