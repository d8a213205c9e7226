"""Runs one stage of the Dockerfile the way `docker build` (and, for the last stage, `docker
run`) would, without Docker: test_image.py starts it, as root, in fresh namespaces

    unshare --mount [--net] --propagation private -- python3 emulate_stage.py SPEC.json

and this process, inside them, lays an overlay (upper layer on a tmpfs, like Docker's
overlay2) over a Debian 12 root standing in for the stage's FROM image, then applies the
stage's instructions in order: WORKDIR, ENV, ARG (with the given build arguments), SHELL,
COPY from the build context (honouring .dockerignore) or from an earlier stage's exports,
RUN (chrooted, as USER, with RUN --mount=type=cache binds), USER, VOLUME (the mount point is
created if the image lacks it, as Docker does at run time). Everything vanishes with the mount
namespace. Then it copies out the files later stages COPY --from it, or, with "start", execs
ENTRYPOINT + CMD chrooted as USER with the image's environment: that process is the container.

SPEC keys: dockerfile, context, stage (index), lower (the base root), scratch (an empty
folder for the tmpfs), build_args {}, cache_mounts {target: host folder}, imports {stage name:
folder of its exports}, exports [paths], export_dir, run_env {} (added to RUN's environment),
start (bool), address (eth0's, to start)."""

import json
import os
import posixpath
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerfile as df  # noqa: E402

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # Docker's default


def fail(message):
    print(f"emulate_stage: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def mount(*args):
    subprocess.run(["mount", *args], check=True)


def inside(root, path):
    """`path` of the image, as a path of this process (below the overlay's mount point). This
    process resolves symlinks outside the chroot: one that leads out of the image is refused
    rather than followed onto this machine's files."""
    local = os.path.join(root, posixpath.normpath(path).lstrip("/"))
    real_root = os.path.realpath(root)
    if os.path.commonpath([os.path.realpath(local), real_root]) != real_root:
        fail(f"{path} leads out of the image through a symlink")
    return local


def read_table(root, name):
    """Rows of /etc/passwd or /etc/group in the image, split at ':'."""
    try:
        with open(inside(root, f"/etc/{name}")) as f:
            return [line.rstrip("\n").split(":") for line in f if line.strip()]
    except FileNotFoundError:
        return []


def resolve_user(root, user):
    """(uid, gid, supplementary gids, home) for a USER value, as Docker resolves it."""
    if not user:
        return 0, 0, [0], "/root"
    name, _, group = user.partition(":")
    passwd = read_table(root, "passwd")
    groups = read_table(root, "group")
    entry = next((p for p in passwd if p[0] == name or (name.isdigit() and p[2] == name)), None)
    if name.isdigit():
        uid = int(name)
    elif entry:
        uid = int(entry[2])
    else:
        fail(f"USER {user}: no such user in the image's /etc/passwd")
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            row = next((g for g in groups if g[0] == group), None)
            if row is None:
                fail(f"USER {user}: no such group in the image's /etc/group")
            gid = int(row[2])
    else:
        gid = int(entry[3]) if entry else 0
    extra = [int(g[2]) for g in groups if entry and entry[0] in g[3].split(",")]
    home = entry[5] if entry else "/"
    return uid, gid, sorted({gid, *extra}), home


def parse_chown(root, value):
    if value is None:
        return 0, 0
    uid, gid, _, _ = resolve_user(root, value if ":" in value else f"{value}:{value}")
    return uid, gid


def copy_into_image(root, pairs, owner, mode):
    """pairs: [(path in the image, file on this machine)]."""
    for image_path, source in pairs:
        target = inside(root, image_path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.isdir(target):
            target = os.path.join(target, os.path.basename(source))
        shutil.copy2(source, target, follow_symlinks=False)
        os.lchown(target, *owner)
        if mode is not None:
            os.chmod(target, int(mode, 8))


def container_network(address):
    """What Docker gives a container: `lo` up, and `eth0` with an address of its own, where
    published ports arrive (a veth pair with both ends in here: nothing leaves the namespace)."""
    for command in (["link", "set", "lo", "up"],
                    ["link", "add", "eth0", "type", "veth", "peer", "name", "eth0-peer"],
                    ["addr", "add", f"{address}/30", "dev", "eth0"],
                    ["link", "set", "eth0", "up"],
                    ["link", "set", "eth0-peer", "up"]):
        subprocess.run(["ip", *command], check=True)


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    with open(spec["dockerfile"]) as f:
        stage = df.stages(df.parse(f.read()))[spec["stage"]]
    with open(os.path.join(spec["context"], ".dockerignore")) as f:
        ignore = df.DockerIgnore(f.read())
    files = df.context_files(spec["context"], ignore)

    scratch = spec["scratch"]
    mount("-t", "tmpfs", "-o", "mode=0755", "tmpfs", scratch)
    upper, work, root = (os.path.join(scratch, d) for d in ("upper", "work", "root"))
    for d in (upper, work, root):
        os.mkdir(d)
    mount("-t", "overlay", "overlay", "-o", f"lowerdir={spec['lower']},upperdir={upper},workdir={work}", root)
    mount("--rbind", "/dev", inside(root, "/dev"))
    mount("-t", "proc", "proc", inside(root, "/proc"))

    env = {"PATH": DEFAULT_PATH}     # the image's environment (ENV)
    build_args = {}                  # ARG values: seen by RUN, not by the container
    workdir, shell, user = "/", ["/bin/sh", "-c"], None
    for ins in stage.instructions:
        k = ins.keyword
        print(f"emulate_stage: {ins}", file=sys.stderr, flush=True)
        if k == "WORKDIR":
            workdir = posixpath.join(workdir, ins.args)
            os.makedirs(inside(root, workdir), exist_ok=True)
        elif k == "ENV":
            env.update(df.env_pairs(ins))
        elif k == "ARG":
            name, default = df.arg_default(ins)
            value = spec["build_args"].get(name, default)
            if value is not None:
                build_args[name] = value
        elif k == "SHELL":
            shell = ins.exec_form()
        elif k == "USER":
            user = ins.args
        elif k == "COPY":
            words = ins.exec_form() or ins.args.split()
            owner = parse_chown(root, ins.flag("chown"))
            source_stage = ins.flag("from")
            if source_stage is None:
                plan = df.copy_plan(words[:-1], words[-1], workdir, files)
                pairs = [(image, os.path.join(spec["context"], rel)) for image, rel in plan]
            else:
                exports = spec["imports"].get(source_stage)
                if exports is None:
                    fail(f"{ins}: no exports of stage {source_stage}")
                dest = posixpath.join(workdir, words[-1])
                pairs = []
                for source in words[:-1]:
                    local = inside(exports, source)
                    if not os.path.isfile(local):
                        fail(f"{ins}: stage {source_stage} did not produce {source}")
                    pairs.append((posixpath.join(dest, posixpath.basename(source))
                                  if words[-1].endswith("/") else dest, local))
            copy_into_image(root, pairs, owner, ins.flag("chmod"))
        elif k == "RUN":
            run(ins, root, spec, shell, workdir, user, {**env, **build_args})
        elif k == "VOLUME":
            for path in ins.exec_form() or ins.args.split():
                os.makedirs(inside(root, path), exist_ok=True)
        elif k in ("EXPOSE", "STOPSIGNAL", "HEALTHCHECK", "CMD", "ENTRYPOINT", "LABEL"):
            pass  # container settings, read by test_image.py; nothing changes in the file system
        else:
            fail(f"{ins}: not emulated")

    for path in spec.get("exports", []):
        target = inside(spec["export_dir"], path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(inside(root, path), target)
        print(f"emulate_stage: exported {path}", file=sys.stderr, flush=True)

    if spec.get("start"):
        start_container(spec, stage, root, workdir, user, env)


def run(ins, root, spec, shell, workdir, user, env):
    binds = []
    for name, value in ins.flags:
        if name != "mount":
            fail(f"{ins}: RUN --{name} is not emulated")
        options = dict(o.partition("=")[::2] for o in value.split(","))
        if options.get("type") != "cache" or options.get("target") not in spec["cache_mounts"]:
            fail(f"{ins}: only RUN --mount=type=cache with a known target is emulated")
        target = inside(root, options["target"])
        os.makedirs(target, exist_ok=True)
        mount("--bind", spec["cache_mounts"][options["target"]], target)
        binds.append(target)
    uid, gid, groups, home = resolve_user(root, user)
    argv = ins.exec_form() or [*shell, ins.args]

    def enter():
        os.chroot(root)
        os.chdir(workdir)
        os.setgroups(groups)
        os.setgid(gid)
        os.setuid(uid)

    result = subprocess.run(argv, env={"HOME": home, "HOSTNAME": "buildkitsandbox",
                                       **spec.get("run_env", {}), **env},
                            preexec_fn=enter)
    for target in reversed(binds):
        subprocess.run(["umount", target], check=True)
    if result.returncode != 0:
        fail(f"{ins}: exit code {result.returncode}")


def start_container(spec, stage, root, workdir, user, env):
    entrypoint = cmd = None
    for ins in stage.instructions:
        if ins.keyword == "ENTRYPOINT":
            entrypoint = ins.exec_form()
        elif ins.keyword == "CMD":
            cmd = ins.exec_form()
    argv = (entrypoint or []) + (cmd or [])
    if not argv or not argv[0].startswith("/"):
        fail(f"cannot start {argv}: expected an exec-form command with an absolute path")
    uid, gid, groups, home = resolve_user(root, user)
    container_network(spec["address"])
    sys.stdout.flush()
    sys.stderr.flush()
    os.chroot(root)
    os.chdir(workdir)
    os.setgroups(groups)
    os.setgid(gid)
    os.setuid(uid)
    os.execve(argv[0], argv, {"HOSTNAME": "leadd-image-test", "HOME": home, **env})


if __name__ == "__main__":
    main()
