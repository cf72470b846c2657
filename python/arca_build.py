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
typedef struct arca_action arca_action;
typedef struct arca_stage arca_stage;
typedef struct arca_digest { unsigned char bytes[32]; } arca_digest;
typedef struct arca_buf { unsigned char *data; size_t size; } arca_buf;
typedef void (*arca_verify_cb)(const arca_digest *digest, const char *where,
                               void *ctx);
typedef int... arca_event;
typedef int... arca_stage_failure;
typedef int... arca_stage_outcome;
typedef int... arca_stage_event_kind;
typedef int... arca_pipeline_state;
typedef int... arca_pipeline_event_kind;
typedef void (*arca_progress_fn)(void *ctx, uint64_t done, uint64_t total);

#define ARCA_OPT_MAX_SIZE ...
#define ARCA_OPT_TIERS ...
#define ARCA_EVENT_HIT ...
#define ARCA_EVENT_MISS ...
#define ARCA_STAGE_NO_CACHE ...
#define ARCA_STAGE_REFRESH ...

typedef struct arca_options {
    unsigned int version;
    uint64_t max_size;
    uint64_t default_ttl_s;
    unsigned int given;
    const char *const *tiers;
    size_t n_tiers;
    ...;
} arca_options;

const char *arca_errmsg(void);
void arca_buf_free(arca_buf *buf);
void arca_digest_to_hex(char *out, const arca_digest *d);
int arca_digest_from_hex(arca_digest *out, const char *hex);
int arca_parse_size(uint64_t *out_bytes, const char *text);
int arca_parse_duration_ms(uint64_t *out_ms, const char *text);

int arca_store_open(arca_store **out, const char *dir,
                    const arca_options *opts);
void arca_store_close(arca_store *store);
const char *arca_store_path(const arca_store *store);
int arca_store_get_options(arca_options *out, const arca_store *store);
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
int arca_store_digest_file(arca_digest *out, uint64_t *size_out,
                           arca_store *store, const char *path,
                           unsigned int flags, arca_progress_fn fn,
                           void *ctx);
int arca_stats_record(arca_store *store, const char *stage, arca_event event,
                      uint64_t bytes, uint64_t saved_ms);

typedef struct arca_clear_filter {
    int all;
    const char *stage;
    const arca_digest *input;
    const char *tag;
    ...;
} arca_clear_filter;
int arca_store_clear(uint64_t *n_removed, uint64_t *bytes_freed,
                     arca_store *store, const arca_clear_filter *filter);

typedef struct arca_manifest_output {
    char *path; arca_digest digest; uint64_t size; unsigned int mode;
} arca_manifest_output;
typedef struct arca_manifest {
    arca_digest key;
    char *stage;
    arca_manifest_output *outputs;
    size_t n_outputs;
    int exit_status;
    arca_digest stdout_digest;
    uint64_t stdout_size;
    arca_digest stderr_digest;
    uint64_t stderr_size;
    uint64_t duration_ms;
    int64_t created;
    ...;
} arca_manifest;
int arca_manifest_from_action(arca_manifest **out, const arca_action *action);
int arca_manifest_add_output(arca_manifest *m, const char *path,
                             const arca_digest *digest, uint64_t size,
                             unsigned int mode);
void arca_manifest_free(arca_manifest *m);
int arca_action_remove(arca_store *store, const arca_digest *key);

typedef int (*arca_compute_fn)(arca_manifest **out, void *ctx);
typedef struct arca_compute_options {
    unsigned int version;
    uint64_t ttl_s;
    const char *const *tags;
    size_t n_tags;
    uint64_t max_age_s;
    ...;
} arca_compute_options;
int arca_get_or_compute(arca_manifest **out, int *computed,
                        arca_store *store, const arca_digest *key,
                        arca_compute_fn compute, void *ctx,
                        const arca_compute_options *opts);

typedef struct arca_stage_input {
    const char *name; const char *path; const arca_digest *digest;
} arca_stage_input;
typedef struct arca_stage_param {
    const char *name; const char *value;
} arca_stage_param;
typedef struct arca_stage_spec {
    const char *stage;
    char *const *argv;
    const arca_stage_input *inputs;
    size_t n_inputs;
    const arca_stage_param *params;
    size_t n_params;
    const arca_stage_param *secret_params;
    size_t n_secret_params;
    const char *const *env;
    size_t n_env;
    const char *const *outputs;
    size_t n_outputs;
    const char *tool_version;
    const char *tool_path;
    uint64_t ttl_s;
    const char *const *tags;
    size_t n_tags;
    uint64_t max_age_s;
    const char *workdir;
    unsigned int flags;
    int stdout_fd;
    int stderr_fd;
    int stdin_fd;
    const arca_stage_input *optional_inputs;
    size_t n_optional_inputs;
    ...;
} arca_stage_spec;
typedef struct arca_stage_result {
    arca_stage_outcome outcome;
    int exit_status;
    uint64_t duration_ms;
    arca_digest key;
    arca_stage_failure failure;
    ...;
} arca_stage_result;
int arca_stage_prepare(arca_stage **out, arca_stage_failure *failure, arca_store *store,
                       const arca_stage_spec *spec);
const arca_digest *arca_stage_key(const arca_stage *st);
const arca_action *arca_stage_action(const arca_stage *st);
int arca_stage_lookup(arca_manifest **out, arca_stage *st);
int arca_stage_restore(arca_stage *st, const arca_manifest *m);
int arca_stage_commit(arca_manifest **out, arca_stage *st, int exit_status,
                      uint64_t duration_ms, const void *out_data,
                      size_t out_len, const void *err_data, size_t err_len);
int arca_stage_run(arca_stage_result *out, arca_stage *st);
int arca_stage_result_ok(const arca_stage_result *r);
void arca_stage_free(arca_stage *st);

typedef struct arca_pipeline_stage { char *name; int optional; ...; }
    arca_pipeline_stage;
typedef struct arca_pipeline {
    char *path; char *dir; arca_pipeline_stage *stages; size_t n_stages;
    ...;
} arca_pipeline;
typedef struct arca_stage_event {
    arca_stage_event_kind kind; const char *stage; const char *key_hex; long pid;
    int exit_status; uint64_t duration_ms; const char *path; int code;
    const char *message; ...;
} arca_stage_event;
typedef struct arca_pipeline_stage_report {
    const arca_pipeline_stage *stage;
    arca_pipeline_state state;
    arca_stage_result result;
    int code;
    char *message;
    char **reasons;
    size_t n_reasons;
    char **notes;
    size_t n_notes;
    int cached;
    ...;
} arca_pipeline_stage_report;
typedef struct arca_pipeline_report {
    arca_pipeline_stage_report *stages;
    size_t n_stages;
    size_t n_hit, n_ran, n_degraded, n_failed, n_not_run;
    size_t n_would_run;
    uint64_t saved_ms;
    long failed;
    ...;
} arca_pipeline_report;
typedef struct arca_pipeline_event {
    arca_pipeline_event_kind kind;
    const arca_pipeline_stage *stage;
    const arca_stage_event *stage_event;
    uint64_t done, total;
    int code;
    const char *message;
    const char *url;
    const arca_pipeline_stage_report *report;
    ...;
} arca_pipeline_event;
typedef void (*arca_pipeline_event_fn)(void *ctx,
                                       const arca_pipeline_event *ev);
typedef struct arca_pipeline_run_options {
    const char *const *param_names;
    const char *const *param_values;
    size_t n_params;
    const char *const *targets;
    size_t n_targets;
    const char *const *force;
    size_t n_force;
    int dry_run;
    int no_cache;
    int refresh;
    int stdout_fd;
    int stderr_fd;
    arca_pipeline_event_fn event;
    void *event_ctx;
    ...;
} arca_pipeline_run_options;
int arca_pipeline_load(arca_pipeline **out, const char *path);
void arca_pipeline_free(arca_pipeline *p);
int arca_pipeline_run(arca_pipeline_report **out, arca_store *store,
                      const arca_pipeline *p,
                      const arca_pipeline_run_options *opts);
int arca_pipeline_status(arca_pipeline_report **out, arca_store *store,
                         const arca_pipeline *p,
                         const arca_pipeline_run_options *opts);
void arca_pipeline_report_free(arca_pipeline_report *r);

/* The *_INIT macros of arca.h, as functions (set_source below). */
void _arca_py_options_init(arca_options *o);
void _arca_py_spec_init(arca_stage_spec *s);
void _arca_py_compute_options_init(arca_compute_options *o);
void _arca_py_pipeline_options_init(arca_pipeline_run_options *o);

/* Python callbacks (cffi "extern Python"). */
extern "Python" int _arca_py_compute(arca_manifest **out, void *ctx);
extern "Python" void _arca_py_pipeline_event(void *ctx,
                                             const arca_pipeline_event *ev);
"""

SOURCE = """
#include <arca/arca.h>

static void _arca_py_options_init(arca_options *o)
{ arca_options d = ARCA_OPTIONS_INIT; *o = d; }
static void _arca_py_spec_init(arca_stage_spec *s)
{ arca_stage_spec d = ARCA_STAGE_SPEC_INIT; *s = d; }
static void _arca_py_compute_options_init(arca_compute_options *o)
{ arca_compute_options d = ARCA_COMPUTE_OPTIONS_INIT; *o = d; }
static void _arca_py_pipeline_options_init(arca_pipeline_run_options *o)
{ arca_pipeline_run_options d = ARCA_PIPELINE_RUN_OPTIONS_INIT; *o = d; }
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
ffibuilder.set_source("arca._arca", SOURCE, **_flags())

if __name__ == "__main__":
    # python3 arca_build.py [OUTDIR]: writes OUTDIR/arca/_arca*.so
    # (default: the current directory); setuptools' cffi_modules (setup.py)
    # imports ffibuilder instead.
    ffibuilder.compile(tmpdir=sys.argv[1] if len(sys.argv) > 1 else ".",
                       verbose=False)
