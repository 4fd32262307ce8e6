#!/usr/bin/env python3
"""perfsummary.py — where the cores' time went, from a system-wide `perf record -a -g` file.

    perfsummary.py PERF_DATA [NAME=PID[,PID...] ...]

Reads `perf script` and counts every sample once, by process: the NAME given for its PID (nginx =
its master and workers, workers = the orchestrator's children, ...), else the sample's thread name
(comm), "idle" for the idle task. For each process above 1 % of all samples it prints its share of
both cores and how that share divides, in % of all samples:
  - user code by library or binary (its leaf frame's DSO: libcjson, libcurl, the binary itself...);
  - kernel time by the system call it was in (the frame under the syscall entry: poll, sendto,
    futex...), or "kernel: interrupt/softirq" when no system call was on the stack (packet
    receive, scheduler ticks).
and its top symbols. Samples are on-CPU time only (cpu-clock): waiting costs nothing here.
"""
import collections
import subprocess
import sys


def samples(path):
    """Yields (pid, comm, frames) with frames = [(sym, dso), ...], leaf first."""
    out = subprocess.run(["perf", "script", "-i", path, "-F", "pid,tid,comm,ip,sym,dso"],
                         capture_output=True, text=True, errors="replace", check=True).stdout
    head, frames = None, []
    for line in out.splitlines() + [""]:
        if not line.strip():
            if head:
                yield head[0], head[1], frames
            head, frames = None, []
        elif not line.startswith(("\t", " " * 8)) or head is None:
            parts = line.split()
            pidtid = parts[-1]
            head = (int(pidtid.split("/")[0]), " ".join(parts[:-1]))
        else:
            f = line.strip().split(None, 1)
            rest = f[1] if len(f) > 1 else ""
            sym, _, dso = rest.rpartition(" (")
            frames.append((sym.split("+")[0], dso.rstrip(")").rsplit("/", 1)[-1]))


def category(frames):
    if not frames:
        return "unknown"
    sym, dso = frames[0]
    if dso != "[kernel.kallsyms]":
        return dso
    for i, (s, d) in enumerate(frames):
        if s.startswith(("entry_SYSCALL", "do_syscall_64")) and i > 0:
            # the frame above the entry is the system call's own function
            for s2, _ in reversed(frames[:i]):
                if s2.startswith(("__x64_sys_", "__se_sys_", "__do_sys_")):
                    return "kernel: " + s2.split("sys_", 1)[1]
            return "kernel: syscall"
    return "kernel: interrupt/softirq"


def main():
    path = sys.argv[1]
    names = {}
    for arg in sys.argv[2:]:
        name, _, pids = arg.partition("=")
        for p in pids.replace(",", " ").split():
            names[int(p)] = name
    total = 0
    by_proc = collections.Counter()
    by_cat = collections.defaultdict(collections.Counter)
    by_sym = collections.defaultdict(collections.Counter)
    for pid, comm, frames in samples(path):
        total += 1
        proc = "idle" if pid == 0 else names.get(pid, comm)
        by_proc[proc] += 1
        by_cat[proc][category(frames)] += 1
        if frames:
            by_sym[proc][f"{frames[0][0]} ({frames[0][1]})"] += 1
    if not total:
        print("  perf: no samples")
        return

    def pct(n):
        return 100.0 * n / total
    print(f"  perf: {total} samples on both cores; share of all samples by process")
    for proc, n in by_proc.most_common():
        if pct(n) >= 1:
            print(f"    {pct(n):5.1f} %  {proc}")
    for proc, n in by_proc.most_common():
        if pct(n) < 1 or proc == "idle":
            continue
        cats = ", ".join(f"{c} {pct(k):.1f}" for c, k in by_cat[proc].most_common(6) if pct(k) >= 0.3)
        syms = ", ".join(f"{s} {pct(k):.1f}" for s, k in by_sym[proc].most_common(5) if pct(k) >= 0.3)
        print(f"    {proc} {pct(n):.1f} %: {cats}")
        print(f"      top symbols: {syms}")


if __name__ == "__main__":
    main()
