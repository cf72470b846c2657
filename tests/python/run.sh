#!/usr/bin/env bash
# The Python binding (python/, issue 12): build its cffi extension against
# this build's libarca in a fresh directory, then run tests/python with
# Debian's /usr/bin/python3 (python3-cffi, python3-pytest, python3-dev from
# scripts/bootstrap). Not run under the sanitizers: an ASan libarca cannot
# be loaded into an uninstrumented interpreter.
set -euo pipefail
src=${ARCA_SRC:?ARCA_SRC: the source tree}
libdir=${ARCA_LIB_DIR:?ARCA_LIB_DIR: the directory of libarca.so}
py=/usr/bin/python3
# The CLI of the same build, for tests that compare with `arca run`.
export ARCA_BIN=${ARCA_BIN:-$libdir/arca}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$src/python/arca" "$src/python/arca_build.py" "$work/"
rm -f "$work"/arca/_arca.* # a local build in the source tree
(cd "$work" && ARCA_INCLUDE_DIR="$src/include" ARCA_LIB_DIR="$libdir" \
	"$py" arca_build.py)
cd "$work"
PYTHONPATH="$work" "$py" -m pytest -q -p no:cacheprovider "$src/tests/python"
