# Python's multiprocessing.Queue one way, for shmkit's benchmark suite: run as
#
#   python3 -c THIS BYTES MAXSIZE WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#
# A child process puts BYTES-byte `bytes` messages into a multiprocessing.Queue of
# MAXSIZE as fast as it can; the parent gets them for the warm-up, then for the
# measuring time, reading the clock once per batch of BATCH gets (as the Rust rows do);
# prints the items it got and the nanoseconds that took. A CPU of -1 means "do not pin".
import os
import sys
import time
import multiprocessing as mp

BATCH = 256


def pin(cpu):
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})


def producer(q, msg, cpu):
    pin(cpu)
    # Killed by the parent when it is done; nothing it buffered needs flushing.
    q.cancel_join_thread()
    put = q.put
    while True:
        put(msg)


def main():
    size, maxsize, warmup, measure, parent_cpu, child_cpu = map(int, sys.argv[1:7])
    pin(parent_cpu)
    ctx = mp.get_context("fork")
    q = ctx.Queue(maxsize)
    child = ctx.Process(target=producer, args=(q, bytes(size), child_cpu), daemon=True)
    child.start()
    get = q.get
    batch = range(BATCH)
    end = time.perf_counter_ns() + warmup
    while time.perf_counter_ns() < end:
        for _ in batch:
            get()
    items = 0
    start = now = time.perf_counter_ns()
    while now - start < measure:
        for _ in batch:
            get()
        items += BATCH
        now = time.perf_counter_ns()
    child.terminate()
    child.join()
    print(items, now - start)


if __name__ == "__main__":
    main()
