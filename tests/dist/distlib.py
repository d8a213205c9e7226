"""Shared by the dist tests: finding the artifacts scripts/dist.sh wrote, and talking HTTP to a
leadd process. Standard library only (the tests run with Debian's python3)."""

import glob
import http.client
import json
import os
import socket
import subprocess
import sys
import time

# The shared libraries a binary may need and still run on any Debian 12 machine: glibc's.
GLIBC_LIBRARIES = {"libc.so.6", "libm.so.6", "ld-linux-x86-64.so.2",
                   "libpthread.so.0", "libdl.so.2", "librt.so.1"}

# Exit code that CTest reports as "skipped" (SKIP_RETURN_CODE in CMakeLists.txt).
SKIP = 77


def skip(reason):
    print(f"SKIPPED: {reason}", flush=True)
    sys.exit(SKIP)


def dist_artifacts(out_dir):
    """(binary, version) of the one build scripts/dist.sh left in out_dir."""
    binaries = [p for p in glob.glob(os.path.join(out_dir, "leadd-*-linux-x86_64"))]
    if len(binaries) != 1:
        raise SystemExit(f"expected one leadd-*-linux-x86_64 in {out_dir}, found {binaries}")
    binary = binaries[0]
    version = os.path.basename(binary)[len("leadd-"):-len("-linux-x86_64")]
    return binary, version


def needed_libraries(binary):
    out = subprocess.run(["readelf", "-d", binary], check=True, capture_output=True, text=True).stdout
    return [line.split("[", 1)[1].rstrip("]") for line in out.splitlines() if "(NEEDED)" in line]


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, key=None, timeout=10):
    """(status, parsed JSON body or None)."""
    headers = {}
    data = None
    if key:
        headers["Authorization"] = f"Bearer {key}"
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=headers)
        r = conn.getresponse()
        payload = r.read()
        return r.status, (json.loads(payload) if payload else None)
    finally:
        conn.close()


def wait_ready(proc, port, log_path, timeout=30):
    """Polls /readyz until 200; fails with the server's log if it exits or never gets ready."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"leadd exited early with {proc.returncode}:\n{read_tail(log_path)}")
        try:
            if request(port, "GET", "/readyz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"leadd not ready after {timeout} s:\n{read_tail(log_path)}")


def stop(proc, timeout=30):
    """SIGTERM, then the exit code (SIGKILL and a failure if it does not stop)."""
    proc.terminate()
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError(f"leadd did not stop within {timeout} s of SIGTERM")


def read_tail(path, size=4000):
    try:
        with open(path, errors="replace") as f:
            return f.read()[-size:]
    except OSError as e:
        return f"(no log: {e})"


def create_and_read_lead(port, key):
    """POST a lead with `key`, GET it back; asserts 201 then 200 with the same email."""
    email = f"dist{time.time_ns()}@example.com"
    status, body = request(port, "POST", "/api/v1/leads",
                           {"name": "Dist Test", "email": email, "source": "dist"}, key=key)
    assert status == 201, (status, body)
    lead_id = body["data"]["id"]
    status, body = request(port, "GET", f"/api/v1/leads/{lead_id}", key=key)
    assert status == 200 and body["data"]["email"] == email, (status, body)
    return lead_id
