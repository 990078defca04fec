"""A Python program using the CUDA driver through ctypes (as PyTorch and CuPy do through their C
extensions), for tests/e2e/gpu: its allocation's stack must name the Python function.

  python_allocator.py LIBCUDA

Protocol (the C workload's): prints "ready <pid> 0", waits for a line ("go"), allocates device
memory it never frees in `leaky_allocation` (the line it prints as "site <LINE>"), prints "done",
then waits for another line or EOF before exiting."""
import ctypes
import inspect
import os
import sys

LEAK_BYTES = 3 << 20


def leaky_allocation(lib):
    ptr = ctypes.c_uint64()
    result = lib.cuMemAlloc_v2(ctypes.byref(ptr), ctypes.c_size_t(LEAK_BYTES))
    if result != 0:
        raise SystemExit("cuMemAlloc_v2 failed: %d" % result)
    return ptr.value


def main():
    lib = ctypes.CDLL(sys.argv[1])
    if lib.cuInit(0) != 0:
        raise SystemExit("cuInit failed")
    lines, start = inspect.getsourcelines(leaky_allocation)
    site = next(start + i for i, l in enumerate(lines) if "cuMemAlloc_v2(" in l)
    print("ready %d 0" % os.getpid(), flush=True)
    print("site %d" % site, flush=True)
    sys.stdin.readline()
    kept = leaky_allocation(lib)
    print("done", flush=True)
    sys.stdin.readline()
    return kept


if __name__ == "__main__":
    main()
