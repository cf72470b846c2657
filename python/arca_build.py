"""cffi builder of arca._arca, the binding's C extension (API mode).

The extension is compiled against include/arca/arca.h and linked with
libarca: from a build tree (ARCA_INCLUDE_DIR, ARCA_LIB_DIR) or, when those
are unset, from an installed arca found by pkg-config (arca.pc). cffi's
documentation, "Main mode of usage" (API mode, out-of-line):
https://cffi.readthedocs.io/en/stable/overview.html
"""
import os
import shlex
import subprocess
import sys

from cffi import FFI

CDEF = """
typedef struct arca_store arca_store;
typedef struct arca_options arca_options;
typedef struct arca_digest { unsigned char bytes[32]; } arca_digest;
typedef struct arca_buf { unsigned char *data; size_t size; } arca_buf;
typedef void (*arca_verify_cb)(const arca_digest *digest, const char *where,
                               void *ctx);

const char *arca_errmsg(void);
void arca_buf_free(arca_buf *buf);
void arca_digest_to_hex(char *out, const arca_digest *d);
int arca_digest_from_hex(arca_digest *out, const char *hex);

int arca_store_open(arca_store **out, const char *dir,
                    const arca_options *opts);
void arca_store_close(arca_store *store);
int arca_blob_put(arca_digest *out, arca_store *store, const void *data,
                  size_t len);
int arca_blob_put_file(arca_digest *out, uint64_t *size_out,
                       arca_store *store, const char *path);
int arca_blob_get(arca_buf *out, arca_store *store,
                  const arca_digest *digest);
int arca_blob_get_file(arca_store *store, const arca_digest *digest,
                       const char *path, unsigned int mode);
int arca_stats_json(arca_buf *out, arca_store *store, unsigned int days);
int arca_store_verify(uint64_t *n_checked, uint64_t *n_corrupt,
                      arca_store *store, arca_verify_cb cb, void *ctx);
"""


def _fail(msg):
    raise SystemExit("arca_build.py: " + msg)


def _pkg_config(*args):
    try:
        r = subprocess.run(["pkg-config", *args, "arca"],
                           capture_output=True, text=True)
    except FileNotFoundError:
        _fail("pkg-config not found; install it, or set ARCA_INCLUDE_DIR "
              "and ARCA_LIB_DIR to arca's include/ and libarca.so directory")
    if r.returncode != 0:
        _fail("pkg-config cannot find arca (arca.pc): set PKG_CONFIG_PATH "
              "to <prefix>/lib/pkgconfig of an installed arca, or "
              "ARCA_INCLUDE_DIR and ARCA_LIB_DIR to a build tree: "
              + " ".join(r.stderr.split()))
    return r.stdout


def _flags():
    """Compiler and linker flags of the extension, from the environment.

    ARCA_INCLUDE_DIR + ARCA_LIB_DIR: a build tree (or any include/ and
    directory of libarca.so); otherwise pkg-config's arca.pc (honours
    PKG_CONFIG_PATH). The extension's RUNPATH is the library directory,
    unless ARCA_RPATH (a ':'-separated list, may contain a literal
    $ORIGIN, as `make install` uses) replaces it.
    """
    inc = os.environ.get("ARCA_INCLUDE_DIR")
    lib = os.environ.get("ARCA_LIB_DIR")
    if inc or lib:
        if not (inc and lib):
            _fail("set both ARCA_INCLUDE_DIR and ARCA_LIB_DIR, or neither "
                  "(then pkg-config finds arca)")
        if not os.path.isfile(os.path.join(inc, "arca", "arca.h")):
            _fail("ARCA_INCLUDE_DIR=%s has no arca/arca.h" % inc)
        flags = {"include_dirs": [inc], "library_dirs": [lib],
                 "libraries": ["arca"]}
    else:
        flags = {"include_dirs": [], "library_dirs": [], "libraries": []}
        for word in shlex.split(_pkg_config("--cflags", "--libs")):
            if word.startswith("-I"):
                flags["include_dirs"].append(os.path.normpath(word[2:]))
            elif word.startswith("-L"):
                flags["library_dirs"].append(os.path.normpath(word[2:]))
            elif word.startswith("-l"):
                flags["libraries"].append(word[2:])
    rpath = os.environ.get("ARCA_RPATH")
    if rpath is not None:
        flags["runtime_library_dirs"] = [d for d in rpath.split(":") if d]
    else:
        flags["runtime_library_dirs"] = list(flags["library_dirs"])
    return flags


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("arca._arca", "#include <arca/arca.h>", **_flags())

if __name__ == "__main__":
    # python3 arca_build.py [OUTDIR]: writes OUTDIR/arca/_arca*.so
    # (default: the current directory); setuptools' cffi_modules (setup.py)
    # imports ffibuilder instead.
    ffibuilder.compile(tmpdir=sys.argv[1] if len(sys.argv) > 1 else ".",
                       verbose=False)
