"""The dist binary scripts/dist.sh built: glibc is all it needs, it is stripped with its debug
info beside it, its tarball holds what the README says, and copied alone into an empty temporary
directory it starts on a fresh data dir, prints an API key that works, and stops on SIGTERM
with exit code 0.

Usage: test_binary.py OUT_DIR SOURCE_DIR"""

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distlib  # noqa: E402


def check(condition, message):
    if not condition:
        raise AssertionError(message)
    print(f"ok: {message}", flush=True)


def sections(path):
    out = subprocess.run(["readelf", "-S", "-W", path], check=True, capture_output=True, text=True).stdout
    return set(re.findall(r"\]\s+(\.\S+)", out))


def check_files(binary, version, out_dir, source_dir):
    needed = distlib.needed_libraries(binary)
    check(set(needed) <= distlib.GLIBC_LIBRARIES, f"NEEDED {needed} are all glibc's")
    dynamic = subprocess.run(["readelf", "-d", binary], check=True, capture_output=True, text=True).stdout
    check("RPATH" not in dynamic and "RUNPATH" not in dynamic, "no RPATH/RUNPATH")

    binary_sections = sections(binary)
    check(".symtab" not in binary_sections and ".debug_info" not in binary_sections,
          "binary is stripped")
    check(".gnu_debuglink" in binary_sections, "binary points at its debug file")
    debug = binary + ".debug"
    check(os.path.exists(debug) and ".debug_info" in sections(debug), f"{os.path.basename(debug)} has the debug info")

    with open(binary + ".sha256") as f:
        sums = dict(reversed(line.split()) for line in f if line.strip())
    for name, digest in sums.items():
        with open(os.path.join(out_dir, name), "rb") as f:
            check(hashlib.sha256(f.read()).hexdigest() == digest, f"sha256 of {name}")

    top = os.path.basename(binary)
    with tarfile.open(binary + ".tar.gz") as tar:
        names = set(tar.getnames())
        expected = {f"{top}/{n}" for n in ("leadd", "README.md", "leadd.service", "leadd.env")}
        expected |= {f"{top}/{n}" for n in os.listdir(source_dir)
                     if n.startswith("LICENSE") or n == "SECURITY.md"}
        check(expected <= names, f"tarball holds {sorted(expected)}")
        with open(binary, "rb") as f:
            check(tar.extractfile(f"{top}/leadd").read() == f.read(), "tarball's leadd is the dist binary")

    line = subprocess.run([binary, "version"], check=True, capture_output=True, text=True).stdout.strip()
    check(re.fullmatch(rf"leadd {re.escape(version)} \(commit \S+, GNU \S+, Release -O\d, (LTO, )?static\)", line)
          is not None, f"`leadd version`: {line}")
    return line


def check_run(binary, version_line):
    workdir = tempfile.mkdtemp(prefix="leadd-dist-")
    try:
        exe = os.path.join(workdir, "leadd")
        shutil.copy2(binary, exe)
        port = distlib.free_port()
        log_path = os.path.join(workdir, "stderr.log")
        # Empty environment: nothing from the build (LD_LIBRARY_PATH, LEADD_*) helps it run.
        with open(log_path, "wb") as log:
            proc = subprocess.Popen([exe, "serve", "--listen", f"127.0.0.1:{port}", "--threads", "2"],
                                    cwd=workdir, env={}, stdout=subprocess.PIPE, stderr=log)
        # The first start prints the key on stdout; read it while the server runs.
        printed = []
        reader = threading.Thread(target=lambda: printed.extend(proc.stdout), daemon=True)
        reader.start()
        try:
            distlib.wait_ready(proc, port, log_path)
            check(True, f"/readyz 200 from {workdir}")
            deadline = time.time() + 10
            key = None
            while key is None and time.time() < deadline:
                keys = [m.group(0) for m in (re.search(rb"sk-workspace_\S+", l) for l in list(printed)) if m]
                key = keys[0].decode() if keys else None
                time.sleep(0.05)
            check(key is not None, "the initial API key is printed on stdout")
            with open(os.path.join(workdir, "data", "initial-api-key")) as f:
                check(f.read().strip() == key, "and written to ./data/initial-api-key")
            distlib.create_and_read_lead(port, key)
            check(True, "a lead is created and read back with the printed key")
        finally:
            code = distlib.stop(proc)
        reader.join(5)
        check(code == 0, f"exit code {code} after SIGTERM")
        with open(log_path, errors="replace") as f:
            first = f.readline()
        check(version_line in first and first.rstrip().endswith("starting"),
              f"first log line names the build: {first.strip()}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def main():
    out_dir, source_dir = sys.argv[1], sys.argv[2]
    binary, version = distlib.dist_artifacts(out_dir)
    print(f"testing {binary}", flush=True)
    version_line = check_files(binary, version, out_dir, source_dir)
    check_run(binary, version_line)


if __name__ == "__main__":
    main()
