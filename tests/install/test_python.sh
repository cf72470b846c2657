#!/usr/bin/env bash
# The Python binding installed (docs/python-install.md): `cmake --install`
# puts arca/ with its extension in <prefix>/lib/python3/dist-packages, which
# imports and loads the prefix's libarca.so (RUNPATH $ORIGIN-relative), also
# after the prefix is moved; `pip install ./python` (offline, Debian's
# setuptools and cffi) builds it against the installed arca via pkg-config.
# Skipped (77) when the build has no binding: ARCA_SANITIZE, or an
# interpreter without cffi (CMake said so at configure time).
set -euo pipefail
build=$(dirname "$ARCA")
py=${ARCA_PYTHON:-/usr/bin/python3}
if [ -z "${ARCA_PYTHON_EXT:-}" ]; then
	echo "SKIP - this build has no Python binding (ARCA_SANITIZE, or $py lacks cffi/Python.h)"
	exit 77
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0 fail=0
check() { if "$@"; then pass=$((pass + 1)); else echo "FAIL: $*"; fail=$((fail + 1)); fi; }
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
unset ARCA_INCLUDE_DIR ARCA_LIB_DIR ARCA_RPATH ARCA_VERSION
version=$(sed -n 's/^CMAKE_PROJECT_VERSION:STATIC=//p' "$build/CMakeCache.txt")
# setup.py takes the version from CMakeLists.txt or from arca.h: the same.
check test "$(sed -n 's/^#define ARCA_VERSION_STRING "\(.*\)"/\1/p' "$ARCA_SRC/include/arca/arca.h")" = "$version"

# roundtrip STORE PKGDIR LIBDIR [VERSION]: with PYTHONPATH set by the
# caller, `import arca` comes from PKGDIR, a put/get roundtrip works, and
# the libarca.so the process mapped is LIBDIR's (not the build tree's).
cat > "$work/roundtrip.py" <<'PY'
import importlib.metadata, os, sys
store, pkgdir, libdir = sys.argv[1:4]
import arca
here = os.path.dirname(os.path.realpath(arca.__file__))
assert here == os.path.realpath(pkgdir), f"arca imported from {here}, not {pkgdir}"
with arca.Store(store) as s:
    data = os.urandom(1000) + b"roundtrip"
    d = s.put(data)
    assert len(d) == 64 and s.get(d) == data, "put/get roundtrip differs"
maps = {l.split()[-1] for l in open("/proc/self/maps") if "libarca.so" in l}
want = os.path.realpath(libdir)
assert maps and all(os.path.dirname(os.path.realpath(m)) == want for m in maps), \
    f"libarca mapped from {maps}, not {want}"
if len(sys.argv) > 4:
    got = importlib.metadata.version("arca")
    assert got == sys.argv[4], f"arca's version is {got}, not {sys.argv[4]}"
print("ok", d)
PY
roundtrip() { # PYTHONPATH STORE PKGDIR LIBDIR [VERSION]
	local path=$1
	shift
	(cd "$work" && PYTHONPATH="$path" "$py" "$work/roundtrip.py" "$@")
}

# (a) cmake --install into a prefix, then the prefix moved.
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
libdir=$(dirname "$(find "$work/prefix" -name libarca.so | head -1)")
site="$work/prefix/lib/python3/dist-packages"
ext=$(find "$site/arca" -name '_arca*.so' 2>/dev/null | head -1 || true)
check test -f "$site/arca/__init__.py"
check test -n "$ext"
check test ! -e "$site/arca/_arca.c"
runpath=$(readelf -d "$ext" 2>/dev/null | sed -n 's/.*R\(UN\)\{0,1\}PATH.*\[\(.*\)\]/\2/p' || true)
check test "${runpath#\$ORIGIN}" != "$runpath"
check sh -c "! readelf -d '$ext' | grep -F '$build'"
check roundtrip "$site" "$work/store1" "$site/arca" "$libdir"
mv "$work/prefix" "$work/moved"
check roundtrip "${site/prefix/moved}" "$work/store2" "${site/prefix/moved}/arca" "${libdir/prefix/moved}"
mv "$work/moved" "$work/prefix"

# (b) pip, offline, from a copy of python/ (pip builds in the tree it is
# given), against the installed prefix found by pkg-config.
before=$(cd "$ARCA_SRC/python" && find . | sort)
cp -r "$ARCA_SRC/python" "$work/src"
rm -rf "$work/src/build" "$work/src"/*.egg-info "$work/src"/arca/_arca.*
export PKG_CONFIG_PATH="$libdir/pkgconfig"
# --target ignores installed packages, so the dependency on cffi (present
# from python3-cffi) is not resolvable offline there: --no-deps.
check "$py" -m pip install -q --no-index --no-build-isolation --no-deps \
	--target "$work/T" "$work/src"
check roundtrip "$work/T" "$work/store3" "$work/T/arca" "$libdir" "$version"
# --prefix resolves cffi from the system's dist-packages.
check "$py" -m pip install -q --no-index --no-build-isolation \
	--prefix "$work/P" "$work/src"
pkg=$(dirname "$(find "$work/P" -path '*/arca/__init__.py' | head -1)")
check roundtrip "$(dirname "$pkg")" "$work/store4" "$pkg" "$libdir" "$version"
# Without arca.pc or ARCA_INCLUDE_DIR/ARCA_LIB_DIR: one-line errors, first
# for the version (setup.py), then, given one, for the flags (arca_build.py).
nopc() { rm -rf "$work/src/build" "$work/src"/*.egg-info
	PKG_CONFIG_PATH="$work/none" "$py" -m pip install --no-index \
		--no-build-isolation --no-deps --target "$work/T2" "$work/src" 2>&1 || true; }
has() { printf '%s' "$1" | grep -qF "$2"; }
check has "$(nopc)" "setup.py: no arca version: not in a source tree"
check has "$(ARCA_VERSION=0.0.1 nopc)" "arca_build.py: pkg-config cannot find arca (arca.pc)"
check test ! -e "$work/T2/arca"
after=$(cd "$ARCA_SRC/python" && find . | sort)
check test "$before" = "$after"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
