"""The dist binary in a minimal Debian 12 root (`debootstrap --variant=minbase bookworm`: no
Boost, spdlog, fmt or -dev package): chrooted, as an unprivileged user, it starts, answers
/readyz 200 and a lead create on a loopback port, and stops on SIGTERM with exit code 0.

The root is built once, from the Debian mirror configured for apt, and kept (default
~/.cache/leadd/debian12-minbase, or $LEADD_DIST_ROOTFS): it outlives build/, which CI's fresh
clone does not have. Skipped, saying why, when not root, without debootstrap, or when the mirror
does not answer.

Usage: test_debian_root.py OUT_DIR"""

import fcntl
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import distlib  # noqa: E402

SUITE = "bookworm"
COMPLETE = ".leadd-rootfs-complete"  # written last: a root without it is a half-made one
NOBODY = 65534


def rootfs_path():
    if os.environ.get("LEADD_DIST_ROOTFS"):
        return os.path.abspath(os.environ["LEADD_DIST_ROOTFS"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "leadd", "debian12-minbase")


def apt_mirror():
    """The first apt source serving the `bookworm` suite (one-line .list or deb822 .sources)."""
    candidates = []
    for path in ["/etc/apt/sources.list", *sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]:
        try:
            lines = open(path).read().splitlines()
        except OSError:
            continue
        for line in lines:
            words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == SUITE:
                candidates.append(words[1])
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        for stanza in open(path).read().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if ":" in line and not line.startswith(("#", " ")):
                    k, v = line.split(":", 1)
                    fields[k.strip().lower()] = v.split()
            if "deb" in fields.get("types", []) and SUITE in fields.get("suites", []) \
                    and fields.get("enabled", ["yes"])[0] != "no":
                candidates.extend(fields.get("uris", []))
    return candidates[0].rstrip("/") if candidates else None


def reachable(mirror):
    try:
        with urllib.request.urlopen(f"{mirror}/dists/{SUITE}/Release", timeout=15) as r:
            return r.status == 200
    except OSError:
        return False


def mounts_under(path):
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


def prepare_root(root):
    """The cached root, made with debootstrap if it is not there yet (under a lock, so two
    runs do not both make it)."""
    os.makedirs(os.path.dirname(root), exist_ok=True)
    with open(root + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(os.path.join(root, COMPLETE)):
            print(f"reusing the Debian 12 root in {root}", flush=True)
            return
        if shutil.which("debootstrap") is None:
            distlib.skip("debootstrap is not installed (scripts/debian-packages.txt lists it)")
        mirror = apt_mirror()
        if mirror is None:
            distlib.skip(f"no apt source for {SUITE} in /etc/apt/sources.list(.d)")
        if not reachable(mirror):
            distlib.skip(f"the Debian mirror {mirror} does not answer")
        for point in sorted(mounts_under(root), reverse=True):
            subprocess.run(["umount", "-l", point], check=False)
        shutil.rmtree(root, ignore_errors=True)
        partial = tempfile.mkdtemp(prefix="debian12-minbase.", dir=os.path.dirname(root))
        os.chmod(partial, 0o755)
        print(f"debootstrap --variant=minbase {SUITE} {partial} {mirror} (once; then cached)", flush=True)
        started = time.time()
        result = subprocess.run(["debootstrap", "--variant=minbase", SUITE, partial, mirror],
                                capture_output=True, text=True)
        if result.returncode != 0:
            for point in sorted(mounts_under(partial), reverse=True):
                subprocess.run(["umount", "-l", point], check=False)
            shutil.rmtree(partial, ignore_errors=True)
            raise AssertionError(f"debootstrap failed ({result.returncode}):\n{result.stdout[-3000:]}"
                                 f"\n{result.stderr[-3000:]}")
        open(os.path.join(partial, COMPLETE), "w").close()
        os.rename(partial, root)
        print(f"Debian 12 root ready in {time.time() - started:.0f} s", flush=True)


def main():
    out_dir = sys.argv[1]
    binary, version = distlib.dist_artifacts(out_dir)
    if os.geteuid() != 0:
        distlib.skip("needs root (chroot, mount)")
    for tool in ("chroot", "unshare", "mount"):
        if shutil.which(tool) is None:
            distlib.skip(f"{tool} is not installed")
    root = rootfs_path()
    prepare_root(root)

    # What the binary must do without: no library package beyond what minbase has.
    libdir = os.path.join(root, "usr/lib/x86_64-linux-gnu")
    for pattern in ("libboost*", "libspdlog*", "libfmt*", "libcrypto.so*"):
        present = glob.glob(os.path.join(libdir, pattern))
        assert not present, f"the minimal root has {present}: it does not prove anything"
    # A run killed mid-test may have left /proc mounted in the cached root.
    for point in sorted(mounts_under(root), reverse=True):
        subprocess.run(["umount", "-l", point], check=False)

    workdir = tempfile.mkdtemp(prefix="leadd-dist-", dir=os.path.join(root, "tmp"))
    os.chmod(workdir, 0o755)
    inside = "/" + os.path.relpath(workdir, root)
    try:
        shutil.copy2(binary, os.path.join(workdir, "leadd"))
        os.makedirs(os.path.join(workdir, "data"))
        os.chown(os.path.join(workdir, "data"), NOBODY, NOBODY)
        port = distlib.free_port()
        log_path = os.path.join(workdir, "stderr.log")
        # A private mount namespace: the /proc mounted for leadd goes away with it, whatever
        # happens to this test. `exec` all along, so the pid is leadd's and SIGTERM reaches it.
        script = ('mount -t proc proc "$0/proc" && exec chroot --userspec=65534:65534 "$0" "$1/leadd" serve '
                  '--listen "127.0.0.1:$2" --data-dir "$1/data" --threads 2')
        command = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script,
                   root, inside, str(port)]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(command, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                                    stdout=subprocess.DEVNULL, stderr=log)
        try:
            distlib.wait_ready(proc, port, log_path)
            print(f"ok: /readyz 200 from leadd {version} in {root}, as uid {NOBODY}", flush=True)
            with open(os.path.join(workdir, "data", "initial-api-key")) as f:
                key = f.read().strip()
            distlib.create_and_read_lead(port, key)
            print("ok: a lead is created and read back", flush=True)
        finally:
            code = distlib.stop(proc)
        assert code == 0, f"exit code {code} after SIGTERM:\n{distlib.read_tail(log_path)}"
        print("ok: exit code 0 after SIGTERM", flush=True)
        assert not mounts_under(root), f"mounts left under {root}: {mounts_under(root)}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
