"""The image, built and run without Docker (no engine runs on the build machines), by
emulate_stage.py in private mount and network namespaces, each stage on an overlay:

1. The build stage on this machine's root (Debian 12 with scripts/debian-packages.txt
   installed by `make test`, which stands in for debian:12-slim after the stage's
   install-deps.sh; packages this machine has beyond the list go unnoticed), from the build
   context the Dockerfile's COPY lines and .dockerignore make: its RUN lines as written, so
   scripts/dist.sh builds leadd from exactly the files the image build would see. With
   build arguments LEADD_VERSION/LEADD_COMMIT. The ccache cache mount gets this machine's
   ccache, which dist_build has just filled, so this takes seconds.
2. The runtime stage on the minimal Debian 12 root of tests/dist (`debootstrap
   --variant=minbase bookworm`, what debian:12-slim is made from): its RUN lines (groupadd,
   useradd, the data dir), the binary from stage 1, then ENTRYPOINT + CMD as USER with the
   image's ENV, in a network namespace of its own (so the port is the EXPOSEd 8080 itself).

Then, as `docker run`, `docker exec` and `docker stop` would: /readyz and /healthz answer on the
exposed port, leadd runs as the USER's uid, `cat /data/initial-api-key` (README's docker exec
line) prints the key the logs show, that key creates a lead, `leadd version` names the build
argument, the HEALTHCHECK command exits 0 (when this tree's leadd has `healthcheck`), and
STOPSIGNAL stops it with exit code 0 within Docker's default 10 s.

Not checked: pulling debian:12-slim itself (its digest and contents), BuildKit's own handling.

Usage: test_image.py WORK_DIR [DOCKERFILE]   (as root; skipped, exit 77, when it cannot run;
       DOCKERFILE, default the repo's, is for trying the test on a broken one)"""

import contextlib
import ctypes
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "dist"))
import dockerfile as df  # noqa: E402
import distlib  # noqa: E402
import test_debian_root  # noqa: E402  (the cached minimal Debian 12 root)

BUILD_ARGS = {"LEADD_VERSION": "0.0.0-image-test", "LEADD_COMMIT": "feedbee"}
CONTAINER_ADDRESS = "172.31.255.2"   # the container's eth0, private to its network namespace
DOCKER_STOP_TIMEOUT_S = 10   # `docker stop` waits this long by default, then SIGKILLs
CLONE_NEWNET = 0x40000000


def check_prerequisites():
    if os.geteuid() != 0:
        distlib.skip("needs root (namespaces, overlay mounts, chroot)")
    for tool in ("unshare", "nsenter", "mount", "umount", "ccache", "ip"):
        if shutil.which(tool) is None:
            distlib.skip(f"{tool} is not installed")
    with open("/proc/filesystems") as f:
        if "overlay" not in f.read():
            distlib.skip("the kernel has no overlay file system")
    try:
        with open("/etc/debian_version") as f:
            debian = f.read().strip()
    except OSError:
        debian = "none"
    if not debian.startswith("12"):
        distlib.skip(f"the build stage runs on this machine's root, which is not Debian 12 ({debian})")
    probe = subprocess.run(["unshare", "--net", "ip", "link", "add", "eth0", "type", "veth", "peer",
                            "name", "eth0-peer"], capture_output=True, text=True)
    if probe.returncode != 0:
        distlib.skip(f"cannot make a veth pair for the container's eth0: {probe.stderr.strip()}")


def emulate(spec, work, name, network=False, **popen):
    """Starts emulate_stage.py on `spec` in a mount namespace (and network namespace) of its own."""
    path = os.path.join(work, f"{name}.json")
    with open(path, "w") as f:
        json.dump(spec, f, indent=1)
    command = ["unshare", "--mount", *(["--net"] if network else []), "--propagation", "private",
               "--", sys.executable, os.path.join(HERE, "emulate_stage.py"), path]
    return subprocess.Popen(command, **popen)


def fresh_dir(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def build(stages, work, dockerfile):
    """Runs every stage but the last; {stage name: folder holding what later stages copy}."""
    ccache_dir = subprocess.run(["ccache", "-k", "cache_dir"], capture_output=True, text=True,
                                check=True).stdout.strip()
    imports = {}
    for stage in stages[:-1]:
        wanted = [i.args.split()[0] for later in stages[stage.index + 1:] for i in later.instructions
                  if i.keyword == "COPY" and i.flag("from") == stage.name]
        # A ccache mount gets this machine's ccache; any other cache mount a folder of its own,
        # kept between runs as BuildKit keeps it.
        cache_mounts = {}
        for ins in stage.instructions:
            for value in (v for n, v in ins.flags if ins.keyword == "RUN" and n == "mount"):
                target = dict(o.partition("=")[::2] for o in value.split(",")).get("target", "")
                cache_mounts[target] = (ccache_dir if os.path.basename(target) == "ccache" else
                                        os.path.join(work, "cache-mounts", target.strip("/").replace("/", "_")))
                os.makedirs(cache_mounts[target], exist_ok=True)
        export_dir = fresh_dir(os.path.join(work, f"stage-{stage.name}-exports"))
        # ccache hashes the locale variables (they change the compiler's messages): without this
        # machine's, no object dist_build compiled would be reused. Nothing else differs by them.
        locale = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES")}
        spec = {"dockerfile": dockerfile, "context": REPO, "stage": stage.index,
                "lower": "/", "scratch": fresh_dir(os.path.join(work, f"stage-{stage.name}")),
                "build_args": BUILD_ARGS, "cache_mounts": cache_mounts, "imports": imports,
                "exports": wanted, "export_dir": export_dir, "run_env": locale}
        started = time.time()
        proc = emulate(spec, work, f"stage-{stage.name}")
        if proc.wait(timeout=1700) != 0:
            raise AssertionError(f"stage {stage.name} failed (exit code {proc.returncode}); its log is above")
        print(f"ok: stage {stage.name} built {wanted} in {time.time() - started:.0f} s", flush=True)
        imports[stage.name] = export_dir
    return imports


@contextlib.contextmanager
def network_namespace(pid):
    """Sockets this thread opens meanwhile belong to the network namespace of process `pid`."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/self/ns/net", os.O_RDONLY)
    theirs = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        if libc.setns(theirs, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns into the container's network namespace")
        yield
    finally:
        if libc.setns(own, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns back into this test's network namespace")
        os.close(own)
        os.close(theirs)


def wait_for_own_network(proc, timeout=10):
    """Until `unshare --net` has made the container's network namespace: probing before that
    would reach whatever listens on this machine's port."""
    own = os.readlink("/proc/self/ns/net")
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if os.readlink(f"/proc/{proc.pid}/ns/net") != own:
                return
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    raise AssertionError("the container never got a network namespace of its own")


def container_identity(pid):
    """(uid, gid, environment) of the container's process, as `docker exec` would use them."""
    with open(f"/proc/{pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    uids = status["Uid"].split()
    gids = status["Gid"].split()
    with open(f"/proc/{pid}/environ", "rb") as f:
        env = dict(entry.decode().split("=", 1) for entry in f.read().split(b"\0") if entry)
    return uids, gids, env


def docker_exec(pid, argv):
    """`docker exec CONTAINER argv...`: in the container's namespaces and root, as its user and
    with its environment."""
    uids, gids, env = container_identity(pid)
    command = [shutil.which("nsenter"), f"--target={pid}", "--mount", "--net", "--root", "--wd",
               f"--setuid={uids[0]}", f"--setgid={gids[0]}", "--", *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=30)


def status_at(address, port, path):
    conn = http.client.HTTPConnection(address, port, timeout=10)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def main():
    work = os.path.abspath(sys.argv[1])
    dockerfile = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else os.path.join(REPO, "Dockerfile")
    check_prerequisites()
    os.makedirs(work, exist_ok=True)
    with open(dockerfile) as f:
        stages = df.stages(df.parse(f.read()))
    runtime = stages[-1]
    settings = {i.keyword: i for i in runtime.instructions}
    port = int(settings["EXPOSE"].args.split()[0].split("/")[0])
    stop_signal = signal.Signals[settings["STOPSIGNAL"].args] if settings["STOPSIGNAL"].args.startswith("SIG") \
        else signal.Signals(int(settings["STOPSIGNAL"].args))
    healthcheck = df.healthcheck_command(settings["HEALTHCHECK"])

    imports = build(stages, work, dockerfile)

    base = test_debian_root.rootfs_path()
    test_debian_root.prepare_root(base)   # skips (77) if it cannot be made
    spec = {"dockerfile": dockerfile, "context": REPO, "stage": runtime.index,
            "lower": base, "scratch": fresh_dir(os.path.join(work, "stage-runtime")),
            "build_args": BUILD_ARGS, "cache_mounts": {}, "imports": imports, "start": True,
            "address": CONTAINER_ADDRESS}
    stdout_path = os.path.join(work, "container.stdout")
    stderr_path = os.path.join(work, "container.stderr")
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = emulate(spec, work, "stage-runtime", network=True, stdout=out, stderr=err)
    try:
        wait_for_own_network(proc)
        with network_namespace(proc.pid):
            distlib.wait_ready(proc, port, stderr_path, timeout=60)
            status, _ = distlib.request(port, "GET", "/healthz")
            assert status == 200, f"/healthz answered {status}"
            # Where `docker run -p` sends the published port: the container's own address.
            try:
                status = status_at(CONTAINER_ADDRESS, port, "/readyz")
            except OSError as e:
                raise AssertionError(f"nothing answers on the container's address {CONTAINER_ADDRESS}:{port} "
                                     f"({e}): a published port would reach nothing")
            assert status == 200, f"/readyz on {CONTAINER_ADDRESS}:{port} answered {status}"
        print(f"ok: /readyz and /healthz 200 on the exposed port {port}, on loopback and on the "
              f"container's eth0 address, in a network namespace of its own", flush=True)

        uids, gids, env = container_identity(proc.pid)
        user = settings["USER"].args
        expected_uid = user.split(":")[0]
        assert uids == [expected_uid] * 4, f"leadd runs as uids {uids}, USER is {user}"
        assert env.get("LEADD_LISTEN", "").endswith(f":{port}") and env.get("LEADD_DATA_DIR"), env
        print(f"ok: leadd runs as uid {expected_uid} (USER {user}), LEADD_LISTEN={env['LEADD_LISTEN']}, "
              f"LEADD_DATA_DIR={env['LEADD_DATA_DIR']}", flush=True)

        key_file = os.path.join(env["LEADD_DATA_DIR"], "initial-api-key")
        result = docker_exec(proc.pid, ["cat", key_file])
        assert result.returncode == 0, f"docker exec cat {key_file}: {result.stderr}"
        key = result.stdout.strip()
        with open(stdout_path) as f:
            logs = f.read()
        assert key and key in logs, f"the key in {key_file} is not in the container's output:\n{logs}"
        print(f"ok: docker exec ... cat {key_file} prints the key the logs show", flush=True)

        with network_namespace(proc.pid):
            distlib.create_and_read_lead(port, key)
        print("ok: that key creates a lead and reads it back", flush=True)

        result = docker_exec(proc.pid, [settings["ENTRYPOINT"].exec_form()[0], "version"])
        assert BUILD_ARGS["LEADD_VERSION"] in result.stdout and BUILD_ARGS["LEADD_COMMIT"] in result.stdout \
            and "static" in result.stdout, f"leadd version: {result.stdout}{result.stderr}"
        print(f"ok: {result.stdout.strip()}", flush=True)

        result = docker_exec(proc.pid, healthcheck)
        if result.returncode == 2 and "unknown command 'healthcheck'" in result.stderr:
            print("NOT CHECKED: the HEALTHCHECK command, because this tree's leadd has no "
                  "'healthcheck' subcommand yet", flush=True)
        else:
            assert result.returncode == 0, (f"HEALTHCHECK {healthcheck}: exit code {result.returncode}"
                                            f"\n{result.stdout}{result.stderr}")
            print(f"ok: HEALTHCHECK {healthcheck} exits 0", flush=True)
    finally:
        code = None
        if proc.poll() is None:
            proc.send_signal(stop_signal)
            try:
                code = proc.wait(DOCKER_STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        code = proc.returncode if code is None else code
    assert code == 0, f"exit code {code} after {stop_signal.name}:\n{distlib.read_tail(stderr_path)}"
    print(f"ok: {stop_signal.name} stops it with exit code 0 within {DOCKER_STOP_TIMEOUT_S} s", flush=True)


if __name__ == "__main__":
    main()
