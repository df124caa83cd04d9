# The Python rows of shmkit's benchmark suite, run as `python3 -c THIS MODE ARGS...`.
#
#   queue BYTES WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#   pipe  BYTES WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#   listener BYTES WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#       a child process echoes each BYTES-byte message back through a
#       multiprocessing.Queue pair (put/get), a duplex multiprocessing.Pipe, or the
#       connection a multiprocessing.connection.Client in the child made to a Listener
#       at an AF_UNIX path, without an authkey (send_bytes/recv_bytes); prints every
#       round trip in nanoseconds.
#   listener-connect 0 WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#       a child process connects to a Listener at an AF_UNIX path with an authkey, one
#       connection at a time, each closed after; prints, for every connection, the
#       nanoseconds from the Client call until both sides hold the authenticated
#       connection (see listener_connect).
#   process-fork  0 WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#   process-spawn 0 WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#       start and join a Process that does nothing, under that start method; prints
#       every start+join in nanoseconds.
#   pool-apply 0 WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#       Pool(2).apply(abs, (1,)) round trips; prints each in nanoseconds.
#   pool-map ITEMS WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#       Pool(2).map(abs, range(ITEMS)) with its default chunk size; prints nanoseconds
#       per item and the item count.
#   value 0 WARMUP_NS MEASURE_NS PARENT_CPU CHILD_CPU
#       `with v.get_lock(): v.value += 1` on a multiprocessing.Value in one process;
#       prints nanoseconds per operation and the operation count.
#
# Timed the way the Rust rows are: a warm-up, then each round trip timed on its own
# until the measuring time has passed and at least MIN_SAMPLES were taken (or STRETCH
# measuring times have passed). A CPU of -1 means "do not pin".
import os
import struct
import sys
import tempfile
import time
import multiprocessing as mp
from multiprocessing.connection import Client, Listener

MIN_SAMPLES = 1000
STRETCH = 4
AUTHKEY = b"shmkit-bench"


def pin(cpu):
    if cpu >= 0:
        os.sched_setaffinity(0, {cpu})


def queue_child(inbox, outbox, cpu):
    pin(cpu)
    while True:
        msg = inbox.get()
        if msg is None:
            break
        outbox.put(msg)


def pipe_child(conn, cpu):
    pin(cpu)
    while True:
        msg = conn.recv_bytes()
        if not msg:
            break
        conn.send_bytes(msg)


def listener_child(address, cpu):
    pin(cpu)
    conn = Client(address)
    pipe_child(conn, -1)
    conn.close()


def socket_path():
    return os.path.join(tempfile.gettempdir(), "shmkit-bench-py-conn-%d" % os.getpid())


def connect_child(address, ctl, cpu):
    # One connection per "go": the clock just before the Client call and just after it
    # returns, sent back over the control pipe, then the connection closed.
    pin(cpu)
    while ctl.recv_bytes() == b"go":
        called = time.monotonic_ns()
        conn = Client(address, authkey=AUTHKEY)
        returned = time.monotonic_ns()
        ctl.send_bytes(struct.pack("<QQ", called, returned))
        conn.close()


def listener_connect(warmup, measure, child_cpu, ctx):
    # The listener tells the client to connect, then waits in accept; the sample runs
    # from the client's call until the later of the two sides holds the authenticated
    # connection. time.monotonic_ns is CLOCK_MONOTONIC, one clock for both processes.
    # Closing the connection and the control messages fall outside the sample.
    address = socket_path()
    listener = Listener(address, "AF_UNIX", authkey=AUTHKEY)
    ctl, far = ctx.Pipe()
    child = ctx.Process(target=connect_child, args=(address, far, child_cpu))
    child.start()

    def once():
        ctl.send_bytes(b"go")
        conn = listener.accept()
        accepted = time.monotonic_ns()
        conn.close()
        called, returned = struct.unpack("<QQ", ctl.recv_bytes())
        return max(accepted, returned) - called

    samples = each_sample(once, warmup, measure)
    ctl.send_bytes(b"stop")
    child.join()
    listener.close()
    return samples


def each_sample(once, warmup, measure):
    # As round_trips, keeping the nanoseconds each call of `once` returns.
    end = time.perf_counter_ns() + warmup
    while time.perf_counter_ns() < end:
        once()
    samples = []
    start = time.perf_counter_ns()
    while True:
        samples.append(once())
        elapsed = time.perf_counter_ns() - start
        if elapsed >= measure and (len(samples) >= MIN_SAMPLES or elapsed >= measure * STRETCH):
            return samples


def round_trips(once, warmup, measure):
    end = time.perf_counter_ns() + warmup
    while time.perf_counter_ns() < end:
        once()
    samples = []
    start = last = time.perf_counter_ns()
    while True:
        once()
        now = time.perf_counter_ns()
        samples.append(now - last)
        last = now
        elapsed = now - start
        if elapsed >= measure and (len(samples) >= MIN_SAMPLES or elapsed >= measure * STRETCH):
            return samples


def main():
    mode = sys.argv[1]
    size, warmup, measure, parent_cpu, child_cpu = map(int, sys.argv[2:7])
    pin(parent_cpu)
    ctx = mp.get_context("fork")
    if mode == "value":
        v = ctx.Value("i", 0)

        def burst():
            for _ in range(1000):
                with v.get_lock():
                    v.value += 1

        end = time.perf_counter_ns() + warmup
        while time.perf_counter_ns() < end:
            burst()
        ops = 0
        start = time.perf_counter_ns()
        while time.perf_counter_ns() - start < measure:
            burst()
            ops += 1000
        print((time.perf_counter_ns() - start) / ops, ops)
        return
    if mode in ("process-fork", "process-spawn"):
        pctx = mp.get_context(mode.split("-")[1])

        def once():
            p = pctx.Process(target=int)
            p.start()
            p.join()

        print(" ".join(map(str, round_trips(once, warmup, measure))))
        return
    if mode == "listener-connect":
        print(" ".join(map(str, listener_connect(warmup, measure, child_cpu, ctx))))
        return
    if mode == "pool-apply":
        with ctx.Pool(2) as pool:
            print(" ".join(map(str, round_trips(lambda: pool.apply(abs, (1,)), warmup, measure))))
        return
    if mode == "pool-map":
        with ctx.Pool(2) as pool:
            pool.map(abs, range(size))
            start = time.perf_counter_ns()
            pool.map(abs, range(size))
            print((time.perf_counter_ns() - start) / size, size)
        return
    msg = bytes(size)
    if mode == "queue":
        there, back = ctx.Queue(), ctx.Queue()
        child = ctx.Process(target=queue_child, args=(there, back, child_cpu))
        child.start()

        def once():
            there.put(msg)
            back.get()

        samples = round_trips(once, warmup, measure)
        there.put(None)
    elif mode == "pipe":
        here, far = ctx.Pipe()
        child = ctx.Process(target=pipe_child, args=(far, child_cpu))
        child.start()

        def once():
            here.send_bytes(msg)
            here.recv_bytes()

        samples = round_trips(once, warmup, measure)
        here.send_bytes(b"")
    elif mode == "listener":
        address = socket_path()
        listener = Listener(address, "AF_UNIX")
        child = ctx.Process(target=listener_child, args=(address, child_cpu))
        child.start()
        here = listener.accept()
        listener.close()

        def once():
            here.send_bytes(msg)
            here.recv_bytes()

        samples = round_trips(once, warmup, measure)
        here.send_bytes(b"")
    else:
        sys.exit("unknown mode " + mode)
    child.join()
    print(" ".join(map(str, samples)))


if __name__ == "__main__":
    main()
