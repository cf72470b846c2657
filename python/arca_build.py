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


def _flags():
    inc = os.environ.get("ARCA_INCLUDE_DIR")
    lib = os.environ.get("ARCA_LIB_DIR")
    if inc and lib:
        return {"include_dirs": [inc], "library_dirs": [lib],
                "runtime_library_dirs": [lib], "libraries": ["arca"]}
    out = subprocess.run(["pkg-config", "--cflags", "--libs", "arca"],
                         check=True, capture_output=True, text=True).stdout
    flags = {"include_dirs": [], "library_dirs": [], "libraries": []}
    for word in shlex.split(out):
        if word.startswith("-I"):
            flags["include_dirs"].append(word[2:])
        elif word.startswith("-L"):
            flags["library_dirs"].append(word[2:])
        elif word.startswith("-l"):
            flags["libraries"].append(word[2:])
    flags["runtime_library_dirs"] = list(flags["library_dirs"])
    return flags


ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("arca._arca", "#include <arca/arca.h>", **_flags())

if __name__ == "__main__":
    ffibuilder.compile(verbose=False)
