#!/usr/bin/python3
"""Build the crash states a power cut allows from a recorded trace, and
check each with crash_check (tests/crash/README.md has the model).

Usage: crash_states.py --trace T --data D --root STORE --checker BIN
                       --work DIR [--states N] [--seed S]

The trace (recorder.c) is the writer's file-system operations under the
store, in order, with its acknowledgements. For a cut point k (a power
cut after the first k operations) an operation is *durable* when a later
operation before the cut persisted it:
  - a write, truncate or extend of a file: an fsync/fdatasync of that
    file (any descriptor), or sync/syncfs;
  - a create, mkdir, unlink, rmdir or link: an fsync of the parent
    directory, or sync/syncfs;
  - a rename: an fsync of the destination's parent directory, or
    sync/syncfs (a rename is atomic: it moves its inode's name or not).
Durable operations are in every state of that cut; each other one may or
may not have reached the disk. The states of a cut: "none" (every
non-durable operation lost), "all" (every one kept: what a SIGKILL
leaves), "zero" (as none, but a lost write that extended a file leaves
its new range as zeros, as delayed allocation can), "prefix" (the
non-durable operations in trace order up to a random point, as an ordered
journal keeps them) and "random" (each kept with probability 1/2, in any
combination: no ordering between files or directories is assumed).
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import time

ROOT_MARK = "@"  # paths in ops are relative to the root, "@" is the root


def parent(path):
    return path.rsplit("/", 1)[0] if "/" in path else ROOT_MARK


class Trace:
    def __init__(self, trace_path, data_path, root):
        self.root = os.path.realpath(root)
        with open(data_path, "rb") as f:
            self.data = f.read()
        self.ops = []
        self.acks = []          # (position, text)
        self.index_ids = set()  # inode ids of index.db and index.db-wal
        self.paths_of = {}      # inode id -> first path (for messages)
        self._parse(trace_path)
        self._durability()

    def rel(self, path):
        if path == self.root:
            return ROOT_MARK
        if not path.startswith(self.root + "/"):
            return None
        return path[len(self.root) + 1:]

    def _parse(self, trace_path):
        live = {ROOT_MARK: "dir"}  # path -> "dir" or inode id
        files = {}                 # st_ino -> inode id
        dirs = {}                  # st_ino -> path
        next_id = 0
        with open(trace_path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                fields = line.rstrip("\n").split("\t")
                kind = fields[0]
                if kind == "ACK":
                    self.ops.append(("ack", fields[1]))
                    self.acks.append((len(self.ops) - 1, fields[1]))
                elif kind == "CREATE":
                    path = self.rel(fields[2])
                    next_id += 1
                    files[fields[1]] = next_id
                    dirs.pop(fields[1], None)
                    live[path] = next_id
                    self.paths_of[next_id] = path
                    if path in ("index.db", "index.db-wal"):
                        self.index_ids.add(next_id)
                    self.ops.append(("create", path, next_id))
                elif kind == "OPEN":
                    path = self.rel(fields[2])
                    if path not in live:
                        sys.exit("trace line %d: %s existed before the "
                                 "trace began (the store must start empty)"
                                 % (lineno, path))
                    if live[path] == "dir":
                        dirs[fields[1]] = path
                        files.pop(fields[1], None)
                    else:
                        files[fields[1]] = live[path]
                        dirs.pop(fields[1], None)
                elif kind in ("WRITE", "TRUNC", "EXTEND", "FSYNC", "RANGE"):
                    ino = fields[1]
                    if kind == "FSYNC" and ino in dirs:
                        self.ops.append(("dsync", dirs[ino]))
                        continue
                    if ino not in files:
                        sys.exit("trace line %d: %s of an unknown file"
                                 % (lineno, kind))
                    fid = files[ino]
                    if kind == "WRITE":
                        self.ops.append(("write", fid, int(fields[2]),
                                         int(fields[3]), int(fields[4])))
                    elif kind == "TRUNC":
                        self.ops.append(("trunc", fid, int(fields[2])))
                    elif kind == "EXTEND":
                        self.ops.append(("extend", fid, int(fields[2])))
                    elif kind == "FSYNC":
                        self.ops.append(("fsync", fid))
                    # RANGE (sync_file_range) persists nothing.
                elif kind == "SYNCALL":
                    self.ops.append(("syncall",))
                elif kind == "MKDIR":
                    path = self.rel(fields[1])
                    live[path] = "dir"
                    self.ops.append(("mkdir", path))
                elif kind == "RMDIR":
                    path = self.rel(fields[1])
                    live.pop(path, None)
                    self.ops.append(("rmdir", path))
                elif kind == "UNLINK":
                    path = self.rel(fields[1])
                    fid = live.pop(path)
                    self.ops.append(("unlink", path, fid))
                elif kind in ("RENAME", "LINK"):
                    a, b = self.rel(fields[1]), self.rel(fields[2])
                    if a is None or b is None:
                        sys.exit("trace line %d: %s across the store's "
                                 "boundary is not modelled" % (lineno, kind))
                    fid = live[a]
                    if fid == "dir":
                        sys.exit("trace line %d: a directory %s is not "
                                 "modelled" % (lineno, kind.lower()))
                    if kind == "RENAME":
                        del live[a]
                        self.ops.append(("rename", a, b, fid))
                    else:
                        self.ops.append(("link", b, fid))
                    live[b] = fid
                else:
                    sys.exit("trace line %d: unknown operation %s"
                             % (lineno, kind))

    def _durability(self):
        """persist[i]: index of the first later op that persists op i."""
        n = len(self.ops)
        never = n + 1
        self.persist = [never] * n
        next_fsync = {}   # inode id -> next fsync index (scanning back)
        next_dsync = {}   # dir path -> next dsync index
        next_all = never
        for i in range(n - 1, -1, -1):
            op = self.ops[i]
            kind = op[0]
            if kind in ("write", "trunc", "extend"):
                self.persist[i] = min(next_fsync.get(op[1], never), next_all)
            elif kind in ("create", "mkdir", "rmdir", "unlink", "link"):
                target = op[1]
                self.persist[i] = min(next_dsync.get(parent(target), never),
                                      next_all)
            elif kind == "rename":
                self.persist[i] = min(next_dsync.get(parent(op[2]), never),
                                      next_all)
            if kind == "fsync":
                next_fsync[op[1]] = i
            elif kind == "dsync":
                next_dsync[op[1]] = i
            elif kind == "syncall":
                next_all = i
                next_fsync = {}
                next_dsync = {}
        # A mutating op persisted by nothing is "pending" at every cut.
        self.mutating = [op[0] not in ("ack", "fsync", "dsync", "syncall")
                         for op in self.ops]
        self.index_sync = [op[0] == "syncall" or
                           (op[0] == "fsync" and op[1] in self.index_ids)
                           for op in self.ops]

    def pending(self, k):
        """Indices of ops before cut k that are not durable at k."""
        return [i for i in range(k)
                if self.mutating[i] and self.persist[i] >= k]


def build(trace, k, keep, zero, out):
    """Materialise at out the state of cut k keeping the pending ops in
    keep (a set); durable ops are always applied."""
    ns = {ROOT_MARK: "dir"}
    content = {}
    data = trace.data
    for i in range(k):
        op = trace.ops[i]
        kind = op[0]
        if not trace.mutating[i]:
            continue
        apply = trace.persist[i] < k or i in keep
        if kind in ("write", "trunc", "extend"):
            buf = content.setdefault(op[1], bytearray())
            if kind == "write":
                _, fid, off, length, doff = op
                if apply:
                    if len(buf) < off:
                        buf.extend(bytes(off - len(buf)))
                    buf[off:off + length] = data[doff:doff + length]
                elif zero and len(buf) < off + length:
                    buf.extend(bytes(off + length - len(buf)))
            elif apply and kind == "trunc":
                if op[2] < len(buf):
                    del buf[op[2]:]
                else:
                    buf.extend(bytes(op[2] - len(buf)))
            elif apply and len(buf) < op[2]:
                buf.extend(bytes(op[2] - len(buf)))
            continue
        if not apply:
            continue
        if kind == "create":
            if ns.get(parent(op[1])) == "dir" and op[1] not in ns:
                ns[op[1]] = op[2]
        elif kind == "mkdir":
            if ns.get(parent(op[1])) == "dir" and op[1] not in ns:
                ns[op[1]] = "dir"
        elif kind == "rmdir":
            if ns.get(op[1]) == "dir" and not any(
                    p.startswith(op[1] + "/") for p in ns):
                del ns[op[1]]
        elif kind == "unlink":
            if ns.get(op[1]) == op[2]:
                del ns[op[1]]
        elif kind == "rename":
            _, a, b, fid = op
            if ns.get(parent(b)) == "dir" and ns.get(b) != "dir":
                if ns.get(a) == fid:
                    del ns[a]
                ns[b] = fid
        elif kind == "link":
            if ns.get(parent(op[1])) == "dir" and op[1] not in ns:
                ns[op[1]] = op[2]
    # Names whose directory is gone are unreachable.
    def reachable(p):
        while p != ROOT_MARK:
            p = parent(p)
            if ns.get(p) != "dir":
                return False
        return True

    os.makedirs(out)
    first_path = {}
    for path in sorted((p for p in ns if p != ROOT_MARK and reachable(p)),
                       key=lambda p: p.count("/")):
        dest = os.path.join(out, path)
        if ns[path] == "dir":
            os.mkdir(dest)
            continue
        fid = ns[path]
        if fid in first_path:
            os.link(first_path[fid], dest)
            continue
        with open(dest, "wb") as f:
            f.write(content.get(fid, b""))
        first_path[fid] = dest
    return ns


def compare_with_real(trace, built_dir):
    """Replaying the whole trace must give the tree the writer left."""
    problems = []

    def walk(top):
        found = {}
        for d, subdirs, names in os.walk(top):
            for s in subdirs:
                found[os.path.relpath(os.path.join(d, s), top)] = None
            for name in names:
                p = os.path.join(d, name)
                with open(p, "rb") as f:
                    found[os.path.relpath(p, top)] = f.read()
        return found

    real, built = walk(trace.root), walk(built_dir)
    for p in sorted(set(real) | set(built)):
        if p not in built:
            problems.append("%s is in the store but not in the replay" % p)
        elif p not in real:
            problems.append("%s is in the replay but not in the store" % p)
        elif p.endswith("-shm"):
            continue  # SQLite's wal-index, written through mmap
        elif real[p] != built[p]:
            problems.append("%s differs (store %d bytes, replay %d)"
                            % (p, len(real[p]), len(built[p])))
    return problems


def describe(trace, i):
    op = trace.ops[i]
    kind = op[0]
    if kind in ("write", "trunc", "extend", "fsync"):
        rest = " ".join(str(x) for x in op[2:4])
        return "%s %s %s" % (kind, trace.paths_of.get(op[1], op[1]), rest)
    return " ".join(str(x) for x in op)


def expectations(trace, k, everything_kept):
    """R: must be present; A: acknowledged, may be lost; U: not yet
    acknowledged. With every operation kept (a SIGKILL), every
    acknowledged entry must be present; otherwise one whose index commit
    was followed by an fsync of index.db-wal or index.db before the cut."""
    lines = []
    for pos, text in trace.acks:
        if text.startswith("closed"):
            continue
        if pos >= k:
            status = "U"
        elif everything_kept or any(trace.index_sync[j]
                                    for j in range(pos + 1, k)):
            status = "R"
        else:
            status = "A"
        lines.append("%s %s\n" % (status, text))
    return "".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--root", required=True)
    ap.add_argument("--checker", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--states", type=int, default=300)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep-failed", type=int, default=3)
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else random.randrange(1 << 31)
    rng = random.Random(seed)
    started = time.monotonic()
    trace = Trace(args.trace, args.data, args.root)
    n = len(trace.ops)
    counts = {}
    for op in trace.ops:
        counts[op[0]] = counts.get(op[0], 0) + 1
    print("trace: %d operations (%s), %d acknowledgements, seed %d "
          "(ARCA_CRASH_SEED replays it)"
          % (n, ", ".join("%d %s" % (v, k) for k, v in sorted(counts.items())),
             len(trace.acks), seed))

    os.makedirs(args.work, exist_ok=True)
    replay = os.path.join(args.work, "replay")
    build(trace, n, set(range(n)), False, replay)
    problems = compare_with_real(trace, replay)
    shutil.rmtree(replay)
    if problems:
        print("FAIL - the trace does not reproduce the store (an operation "
              "was not recorded):")
        for p in problems[:20]:
            print("    " + p)
        return 1
    print("ok - replaying the whole trace reproduces the store the writer "
          "left")

    # Cut points (CrashMonkey's persistence points): just before every
    # fsync, fdatasync or sync, and the end. Any state of a cut between
    # two persistence points is a state of the cut at the second one (no
    # operation in between becomes durable), which also counts more acks.
    # Also the cut after every acknowledgement, with everything kept:
    # what a SIGKILL there leaves, where every acknowledged entry must be
    # present.
    persist_cuts = sorted({n} | {i for i, op in enumerate(trace.ops)
                                 if op[0] in ("fsync", "dsync", "syncall")})
    tiers = [[], [], []]
    for k in persist_cuts:
        pend = trace.pending(k)
        tiers[0].append((k, "none", frozenset(), False))
        if pend:
            tiers[0].append((k, "all", frozenset(pend), False))
            if any(trace.ops[i][0] == "write" for i in pend):
                tiers[2].append((k, "zero", frozenset(), True))
        if len(pend) >= 2:
            j = rng.randrange(1, len(pend))
            tiers[2].append((k, "prefix", frozenset(pend[:j]), False))
            tiers[2].append((k, "random", frozenset(
                i for i in pend if rng.random() < 0.5), False))
    for pos, _ in trace.acks:
        k = pos + 1
        tiers[1].append((k, "all", frozenset(trace.pending(k)), False))

    # The same files and names can come from several cuts: keep the one
    # with the most acknowledgements (the largest cut).
    unique = {}
    for tier, group in enumerate(tiers):
        for st in group:
            k, variant, keep, zero = st
            applied = frozenset(i for i in range(k) if trace.mutating[i] and
                                (trace.persist[i] < k or i in keep))
            key = (applied, zero)
            if key not in unique or unique[key][1][0] < k:
                unique[key] = (min(tier, unique.get(key, (tier,))[0]), st)
    tiers = [[], [], []]
    for tier, st in unique.values():
        tiers[tier].append(st)
    n_candidates = len(unique)
    states = []
    for group in tiers:
        group.sort()
        room = args.states - len(states)
        if len(group) > room:
            group = sorted(rng.sample(group, max(0, room)))
        states.extend(group)
    states.sort(key=lambda s: (s[0], s[1]))

    failed = 0
    kept = 0
    by_variant = {}
    acked_lost = 0
    required = 0
    for num, (k, variant, keep, zero) in enumerate(states):
        out = os.path.join(args.work, "state")
        if os.path.exists(out):
            shutil.rmtree(out)
        build(trace, k, keep, zero, out)
        expect = os.path.join(args.work, "expect")
        with open(expect, "w") as f:
            f.write(expectations(trace, k, variant == "all"))
        res = subprocess.run([args.checker, out, expect],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
        by_variant[variant] = by_variant.get(variant, 0) + 1
        summary = res.stdout.strip().splitlines()
        last = summary[-1] if summary else ""
        words = last.split()
        if len(words) > 8 and words[4].isdigit():
            required += int(words[6])
            acked_lost += int(words[8])
        if res.returncode != 0:
            failed += 1
            where = describe(trace, k - 1) if k > 0 else "(nothing)"
            print("FAIL - state %d: cut after op %d/%d (%s), variant %s, "
                  "%d of %d pending ops kept"
                  % (num, k, n, where, variant, len(keep),
                     len(trace.pending(k))))
            for line in summary[:12]:
                print("    " + line)
            if kept < args.keep_failed:
                dest = os.path.join(args.work, "failed-%d" % num)
                shutil.copytree(out, dest, symlinks=True)
                shutil.copy(expect, dest + ".expect")
                print("    state kept in %s" % dest)
                kept += 1
    if os.path.exists(os.path.join(args.work, "state")):
        shutil.rmtree(os.path.join(args.work, "state"))
    print("%d crash states of %d distinct candidates, at %d cut points (%s) "
          "in %.1f s: %d failed; "
          "%d acknowledged entries required durable and found, %d "
          "acknowledged but not yet durable and lost (allowed: "
          "synchronous=NORMAL)"
          % (len(states), n_candidates, len({s[0] for s in states}),
             ", ".join("%d %s" % (v, k) for k, v in sorted(by_variant.items())),
             time.monotonic() - started, failed, required, acked_lost))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
