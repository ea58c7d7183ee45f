#!/usr/bin/env python3
"""Runs CLI invocations with a fixed concurrency and reports each one's wall time and rusage.

Why Python: Node cannot read a child's rusage, and GNU time truncates CPU time to 10 ms,
which is a sizeable share of a 50 ms process. os.wait4() returns the kernel's rusage of the
child (including the hooks it waited for) in microseconds, with its peak RSS.

stdin (JSON):  {"concurrency": 8, "jobs": [{"args": [...], "env": {...}, "log": "/path"}]}
               "{slot}" in args and env values becomes the worker slot (0..concurrency-1), so tools
               that lock their state directory (certbot) get one directory per slot.
stdout (JSON): {"wallMs": ..., "jobs": [{"wallMs", "userMs", "sysMs", "maxRssKb", "code", "slot"}]}
"""
import json, os, subprocess, sys, threading, time
from concurrent.futures import ThreadPoolExecutor

spec = json.load(sys.stdin)
slots = list(range(spec["concurrency"]))
slots_lock = threading.Lock()


def run(job):
    with slots_lock:
        slot = slots.pop()
    try:
        sub = lambda s: s.replace("{slot}", str(slot))
        env = {**os.environ, **{k: sub(v) for k, v in job.get("env", {}).items()}}
        with open(job["log"], "ab") as log:
            start = time.perf_counter()
            proc = subprocess.Popen([sub(a) for a in job["args"]], env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
            _, status, ru = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here: keep Popen from waiting again
        return {"wallMs": wall * 1e3, "userMs": ru.ru_utime * 1e3, "sysMs": ru.ru_stime * 1e3,
                "maxRssKb": ru.ru_maxrss, "code": proc.returncode, "slot": slot}
    finally:
        with slots_lock:
            slots.append(slot)


start = time.perf_counter()
with ThreadPoolExecutor(max_workers=spec["concurrency"]) as pool:
    results = list(pool.map(run, spec["jobs"]))
json.dump({"wallMs": (time.perf_counter() - start) * 1e3, "jobs": results}, sys.stdout)
