#!/usr/bin/env bash
# libarca.so exports the public API and nothing else: every defined
# dynamic symbol is arca_<word>..., never an internal arca__* function or
# a helper without the prefix (src/lib/libarca.map).
set -euo pipefail
build=$(dirname "$ARCA")
lib=$build/libarca.so
if [ ! -e "$lib" ]; then
	echo "FAIL: no $lib"
	exit 1
fi
syms=$(nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//')
bad=$(printf '%s\n' "$syms" | grep -v '^arca_[a-zA-Z0-9]' || true)
n=$(printf '%s\n' "$syms" | grep -c '^arca_' || true)
fail=0
if [ -n "$bad" ]; then
	echo "FAIL: libarca.so exports symbols outside the public API:"
	printf '  %s\n' $bad
	fail=1
fi
# The public API is there (a version script that hides everything passes
# the check above too).
for s in arca_store_open arca_store_get_options arca_parse_size \
		arca_parse_duration_ms arca_blob_put arca_errmsg; do
	if ! printf '%s\n' "$syms" | grep -qx "$s"; then
		echo "FAIL: libarca.so does not export $s"
		fail=1
	fi
done
echo "$n arca_* symbols exported; $([ "$fail" -eq 0 ] && echo ok || echo FAIL)"
exit "$fail"
