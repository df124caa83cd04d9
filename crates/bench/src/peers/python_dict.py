# Python's Manager().dict(), for shmkit's benchmark suite (issue #18): run as
#
#   python3 -c THIS MODE KEYS WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#
# A SyncManager server process holds a dict of KEYS int keys (value = key); this
# process is its client, pinned to PARENT_CPU (the server to CHILD_CPU in the one-client
# modes). MODE:
#
#   get          `d[k]`, k cycling through the keys
#   set          `d[k] = v` on existing keys (an overwrite: the dict keeps KEYS keys)
#   incr-locked  `with lock: d[k] += 1` (lock = manager.Lock()) on one key by this
#                process and a forked child, pinned to the two CPUs (the server unpinned)
#   incr-plain   `d[k] += 1` on one key by the same two processes, no lock: a get and a
#                set, so increments are lost
#
# Prints nanoseconds per operation and the operations timed (for the incr modes, over
# both processes), then for the incr modes the increments lost (operations done minus
# what the key gained). The clock is read once per batch of BATCH operations. A CPU of -1
# means "do not pin".
import os
import sys
import time
import multiprocessing as mp
from multiprocessing.managers import SyncManager

BATCH = 64
# Key visiting order: a stride through the keys, not their insertion order.
STRIDE = 7


def pin(cpu):
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})


def one_client(mode, d, keys, warmup, measure):
    order = [(i * STRIDE) % keys for i in range(keys)]
    batches = [order[i:i + BATCH] for i in range(0, keys, BATCH)]
    batches = [b for b in batches if len(b) == BATCH] or [order]
    v = [0]

    if mode == "get":
        def burst(batch):
            for k in batch:
                d[k]
    elif mode == "set":
        def burst(batch):
            v[0] += 1
            x = v[0]
            for k in batch:
                d[k] = x
    else:
        sys.exit("unknown mode " + mode)

    n = 0
    end = time.perf_counter_ns() + warmup
    while time.perf_counter_ns() < end:
        burst(batches[n % len(batches)])
        n += 1
    ops = 0
    start = now = time.perf_counter_ns()
    while now - start < measure:
        b = batches[n % len(batches)]
        burst(b)
        n += 1
        ops += len(b)
        now = time.perf_counter_ns()
    print((now - start) / ops, ops)


def incr_loop(d, lock, stop, done, cpu):
    pin(cpu)
    n = 0
    if lock is None:
        while not stop.value:
            d[0] += 1
            n += 1
            done.value = n
    else:
        while not stop.value:
            with lock:
                d[0] += 1
            n += 1
            done.value = n


def contended(mode, d, lock, ctx, warmup, measure, parent_cpu, child_cpu):
    stop = ctx.RawValue("b", 0)
    mine, theirs = ctx.RawValue("q", 0), ctx.RawValue("q", 0)
    before = d[0]
    child = ctx.Process(target=incr_loop, args=(d, lock, stop, theirs, child_cpu), daemon=True)
    child.start()
    # The child's first increment: it is connected and running.
    while theirs.value == 0 and child.is_alive():
        time.sleep(0.001)
    n = 0

    def burst():
        nonlocal n
        if lock is None:
            for _ in range(BATCH):
                d[0] += 1
        else:
            for _ in range(BATCH):
                with lock:
                    d[0] += 1
        n += BATCH
        mine.value = n

    end = time.perf_counter_ns() + warmup
    while time.perf_counter_ns() < end:
        burst()
    start = now = time.perf_counter_ns()
    ops0 = mine.value + theirs.value
    while now - start < measure:
        burst()
        now = time.perf_counter_ns()
    ops = mine.value + theirs.value - ops0
    stop.value = 1
    child.join()
    if child.exitcode != 0:
        sys.exit("the child process failed")
    lost = mine.value + theirs.value - (d[0] - before)
    print((now - start) / ops, ops, lost)


def main():
    mode = sys.argv[1]
    keys, warmup, measure, parent_cpu, child_cpu = map(int, sys.argv[2:7])
    pin(parent_cpu)
    ctx = mp.get_context("fork")
    incr = mode.startswith("incr-")
    manager = SyncManager(ctx=ctx)
    manager.start(pin, (-1 if incr else child_cpu,))
    try:
        d = manager.dict({k: k for k in range(keys)})
        if mode == "incr-locked":
            contended(mode, d, manager.Lock(), ctx, warmup, measure, parent_cpu, child_cpu)
        elif mode == "incr-plain":
            contended(mode, d, None, ctx, warmup, measure, parent_cpu, child_cpu)
        else:
            one_client(mode, d, keys, warmup, measure)
    finally:
        manager.shutdown()


if __name__ == "__main__":
    main()
