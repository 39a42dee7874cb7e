#!/usr/bin/env python3
"""A sign-in storm against a fresh Bedside: N concurrent wrong passwords,
each from its own loopback address (127.0.0.2, 127.0.0.3, ...), so no
per-address throttle applies. Prints the server's resident memory before,
at its peak during, and after the storm, the answers by status, and the
sign-ins checked per second.

    python3 loadgen/scripts/signin_storm.py target/debug/bedside [N]
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def request(port, method, path, body=None, source="127.0.0.1"):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120, source_address=(source, 0))
    headers = {"content-type": "application/json"} if body is not None else {}
    conn.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status


def main():
    binary = sys.argv[1]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 400
    port = free_port()
    data = tempfile.mkdtemp()
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite://{data}/bedside.db",
        BEDSIDE_ADDR=f"127.0.0.1:{port}",
        BEDSIDE_ADMIN_PASSWORD="admin-password-1",
        RUST_LOG="error",
    )
    server = subprocess.Popen(
        [binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(600):
            try:
                if request(port, "GET", "/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.1)
        before = rss_mib(server.pid)
        peak = [before]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss_mib(server.pid))
                time.sleep(0.05)

        statuses = {}
        lock = threading.Lock()

        def attempt(n):
            source = f"127.0.{(n + 2) // 250}.{(n + 2) % 250 + 2}"
            try:
                status = request(
                    port,
                    "POST",
                    "/api/v1/auth/login",
                    {"username": f"nobody-{n}", "password": "not-the-password"},
                    source,
                )
            except OSError as error:
                status = type(error).__name__
            with lock:
                statuses[status] = statuses.get(status, 0) + 1

        sampler = threading.Thread(target=sample)
        sampler.start()
        started = time.monotonic()
        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
        time.sleep(2)
        after = rss_mib(server.pid)
        checked = statuses.get(401, 0)
        print(f"requests: {size} in {elapsed:.1f} s; answers: {statuses}")
        print(f"sign-ins checked per second: {checked / elapsed:.1f}")
        print(f"resident memory: before {before:.0f} MiB, peak {peak[0]:.0f} MiB, 2 s after {after:.0f} MiB")
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
