# Shared start of the bench/*.sh scripts: sourced after `set -euo pipefail`
# as `. "$(dirname "${BASH_SOURCE[0]}")/lib.sh" NAME "$@"`.
#
# Sets repo (the source tree), build (absolute: $1 of the script, else
# $ARCA_BUILD, else the directory of $ARCA, else $repo/build) and arca
# (its CLI, which must exist), and defines die (one line naming NAME, exit
# 1) and bench_positive VAR... (each a positive number, else die).
bench_name=$1
shift
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [[ $# -ge 1 ]]; then
  build=$1
elif [[ -n ${ARCA_BUILD:-} ]]; then
  build=$ARCA_BUILD
elif [[ -n ${ARCA:-} ]]; then
  build=$(dirname "$ARCA")
else
  build=$repo/build
fi
die() { echo "$bench_name: $*" >&2; exit 1; }
bench_positive() {
  local v
  for v in "$@"; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive number"
  done
}
bench_dir=$(cd "$build" 2>/dev/null && pwd) || die "no build directory $build"
build=$bench_dir
arca=$build/arca
[[ -x $arca ]] || die "no $arca: build first (make build)"
