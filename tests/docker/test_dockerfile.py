"""The Dockerfile, checked without Docker (no engine runs on the build machines):

- the mistakes hadolint reports (rule ids in brackets, same numbers as hadolint's), for what
  this project's Dockerfile uses;
- what the image promises (README, "Docker"): Debian 12 bases, a named build stage, a non-root
  runtime user, /data as the volume and data dir, port 8080 on all interfaces, a HEALTHCHECK by
  `leadd healthcheck`, SIGTERM to stop, exec-form commands;
- one source of truth: the build stage runs exactly the scripts `make deps` and `make dist` run,
  with the package list `make deps` installs, and never cmake or apt-get itself;
- the context: every COPY source is in the repo and not excluded by .dockerignore, which keeps
  build trees, data dirs (API keys) and .git out.

Each rule is also run against broken copies of the Dockerfile (and Makefile), which it must
reject: see BrokenInputs.

    python3 tests/docker/test_dockerfile.py [-v]      (Debian's python3; stdlib only)"""

import os
import posixpath
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dockerfile as df  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# The Makefile targets whose scripts the build stage must run: packages, then the binary.
DEPS_TARGET = "deps"
BINARY_TARGET = "dist"   # the image ships the static dist binary (see the Dockerfile's header)
EXPECTED_PORT = 8080
EXPECTED_DATA_DIR = "/data"
HEALTHCHECK_OWN_TIMEOUT_S = 2  # `leadd healthcheck` gives up after 2 s; Docker must wait longer
# What must never reach a build context (paths relative to the repo).
NEVER_IN_CONTEXT = [".git/HEAD", "build/release/leadd", "dist/leadd", "data/initial-api-key",
                    "load/results/report.json"]

DEBIAN_12_IMAGE = re.compile(r"^debian:(12|bookworm)([-.][\w.-]*)?(@sha256:[0-9a-f]{64})?$")
APT_LISTS_REMOVED = re.compile(r"\brm\s+-(?:rf|fr|r\s+-f|f\s+-r)\s+/var/lib/apt/lists/?\*?")
APT_GET_INSTALL = re.compile(r"\bapt-get\s+(?:[-\w=]+\s+)*install\b")
ROOT_USERS = {"root", "0"}


class Inputs:
    """The files the rules read: the repo's, except those given in `replacements`
    ({path in the repo: text})."""

    def __init__(self, replacements=None, repo=REPO):
        self.repo = repo
        self.replacements = replacements or {}

    def read(self, path):
        if path in self.replacements:
            return self.replacements[path]
        with open(os.path.join(self.repo, path)) as f:
            return f.read()


def find_problems(inputs):
    """Every broken rule, as '[rule] what and where'. Empty when the Dockerfile is fine."""
    problems = []
    try:
        instructions = df.parse(inputs.read("Dockerfile"))
        stages = df.stages(instructions)
        ignore = df.DockerIgnore(inputs.read(".dockerignore"))
    except df.DockerfileError as e:
        return [f"[parse] {e}"]
    files = df.context_files(inputs.repo, ignore)

    for path in NEVER_IN_CONTEXT:
        if not ignore.excluded(path):
            problems.append(f"[context] .dockerignore lets {path} into the build context")

    names = [s.name for s in stages if s.name]
    if len(set(names)) != len(names):
        problems.append(f"[DL3024] stage names are not unique: {names}")
    if len(stages) < 2:
        problems.append("[multi-stage] one stage: build and runtime must be separate stages")

    for stage in stages:
        problems += check_base(stage, stages)
        problems += check_instructions(stage, stages, files)
    problems += check_runtime(stages)
    problems += check_one_source_of_truth(inputs, stages, files)
    return problems


def check_base(stage, stages):
    earlier = {s.name for s in stages[:stage.index] if s.name}
    if stage.base in earlier:
        return []
    where = f"line {stage.from_line}: FROM {stage.base}"
    if ":" not in stage.base.split("/")[-1] and "@" not in stage.base:
        return [f"[DL3006] {where}: no tag"]
    if stage.base.split("@")[0].endswith(":latest"):
        return [f"[DL3007] {where}: 'latest' is not a pinned tag"]
    if not DEBIAN_12_IMAGE.match(stage.base):
        return [f"[debian-12] {where}: not a Debian 12 image (debian:12-slim, debian:bookworm-...)"]
    return []


def stage_shell(stage, before_line):
    shell = ["/bin/sh", "-c"]
    for ins in stage.instructions:
        if ins.keyword == "SHELL" and ins.line < before_line:
            shell = ins.exec_form() or shell
    return shell


def check_instructions(stage, stages, files):
    problems = []
    workdir = None
    counts = {"CMD": 0, "ENTRYPOINT": 0, "HEALTHCHECK": 0}
    for ins in stage.instructions:
        k = ins.keyword
        if k in counts:
            counts[k] += 1
        if k == "MAINTAINER":
            problems.append(f"[DL4000] {ins}: MAINTAINER is deprecated (use a LABEL)")
        elif k == "ADD":
            problems.append(f"[DL3020] {ins}: use COPY for files and folders")
        elif k == "WORKDIR":
            if not ins.args.startswith("/"):
                problems.append(f"[DL3000] {ins}: WORKDIR must be absolute")
            workdir = posixpath.join(workdir or "/", ins.args)
        elif k in ("CMD", "ENTRYPOINT") and ins.exec_form() is None:
            problems.append(f"[DL3025] {ins}: use the exec form (a JSON array), so that the "
                            "signal reaches leadd rather than a shell")
        elif k == "COPY":
            words = df.exec_form(ins.args) or ins.args.split()
            if len(words) < 2:
                problems.append(f"[copy] {ins}: needs a source and a destination")
                continue
            sources, dest = words[:-1], words[-1]
            if len(sources) > 1 and not dest.endswith("/"):
                problems.append(f"[DL3021] {ins}: with several sources the destination must end in /")
            if not dest.startswith("/") and workdir is None:
                problems.append(f"[DL3045] {ins}: relative destination without a WORKDIR")
            source_stage = ins.flag("from")
            if source_stage is not None:
                earlier = {s.name for s in stages[:stage.index] if s.name}
                if source_stage == stage.name:
                    problems.append(f"[DL3023] {ins}: COPY --from its own stage")
                elif source_stage not in earlier:
                    problems.append(f"[DL3022] {ins}: --from={source_stage} is not the name of "
                                    "an earlier stage")
                continue
            try:
                df.copy_plan(sources, dest, workdir, files)
            except df.DockerfileError as e:
                problems.append(f"[context] {ins}: {e}")
        elif k == "RUN":
            problems += check_run(ins, stage)
    for k, n in counts.items():
        if n > 1:
            rule = {"CMD": "DL4003", "ENTRYPOINT": "DL4004", "HEALTHCHECK": "DL3012"}[k]
            problems.append(f"[{rule}] stage {stage.name or stage.index} has {n} {k} instructions: "
                            "only the last counts")
    return problems


def check_run(ins, stage):
    problems = []
    command = ins.exec_form()
    command = " ".join(command) if command else ins.args
    unquoted = df.without_quoted(command)
    if re.search(r"(^|[\s;&|(])sudo\s", unquoted):
        problems.append(f"[DL3004] {ins}: no sudo (RUN is already root; USER sets the user)")
    if re.search(r"\bapt\s+(install|update|upgrade|remove)\b", unquoted):
        problems.append(f"[DL3027] {ins}: use apt-get, not apt (no stable CLI)")
    if re.search(r"\bapt-get\s+(?:[-\w=]+\s+)*(upgrade|dist-upgrade)\b", unquoted):
        problems.append(f"[DL3005] {ins}: no apt-get upgrade (update the base image instead)")
    if re.search(r"(^|[;&|(]\s*)cd\s", unquoted.strip()):
        problems.append(f"[DL3003] {ins}: use WORKDIR to change directory")
    installs = [m.start() for m in APT_GET_INSTALL.finditer(unquoted)]
    installs += [unquoted.find(script) for script, _ in df.script_calls(command)
                 if posixpath.basename(script) == "install-deps.sh"]
    for m in APT_GET_INSTALL.finditer(unquoted):
        segment = re.split(r"&&|;|\|\|", unquoted[m.start():])[0]
        if not re.search(r"\s(-y|--yes|--assume-yes|-qq)\b", segment):
            problems.append(f"[DL3014] {ins}: apt-get install without -y")
        if "--no-install-recommends" not in segment:
            problems.append(f"[DL3015] {ins}: apt-get install without --no-install-recommends")
    for start in installs:
        if not APT_LISTS_REMOVED.search(unquoted[start:]):
            problems.append(f"[DL3009] {ins}: packages installed without 'rm -rf "
                            "/var/lib/apt/lists/*' afterwards in the same RUN (the lists stay in "
                            "the layer)")
    pipes = re.search(r"(?<!\|)\|(?!\|)", unquoted)
    shell = stage_shell(stage, ins.line)
    has_pipefail = any(shell[i:i + 2] == ["-o", "pipefail"] for i in range(len(shell)))
    if pipes and not ins.exec_form() and not (has_pipefail and
                                               posixpath.basename(shell[0]) in ("bash", "zsh")):
        problems.append(f"[DL4006] {ins}: a pipe without SHELL [\"/bin/bash\", \"-o\", "
                        "\"pipefail\", \"-c\"]: a failing command before | would go unnoticed")
    return problems


def runtime_settings(stage):
    """ENV, USER, EXPOSE, VOLUME, ... of a stage, each as its last instruction set them."""
    env, volumes, exposed = {}, [], []
    found = {}
    for ins in stage.instructions:
        if ins.keyword == "ENV":
            env.update(df.env_pairs(ins))
        elif ins.keyword == "VOLUME":
            volumes += ins.exec_form() or ins.args.split()
            found.setdefault("VOLUME", ins)
        elif ins.keyword == "EXPOSE":
            exposed += ins.args.split()
        else:
            found[ins.keyword] = ins
    return env, volumes, exposed, found


def check_runtime(stages):
    problems = []
    runtime = stages[-1]
    env, volumes, exposed, last = runtime_settings(runtime)
    command_line = min((i.line for i in runtime.instructions if i.keyword in ("CMD", "ENTRYPOINT")),
                       default=None)

    user = last.get("USER")
    if user is None or (command_line is not None and user.line > command_line):
        problems.append("[DL3002] the runtime stage sets no USER before its CMD/ENTRYPOINT: it runs as root")
    else:
        name = user.args.split(":")[0]
        if name in ROOT_USERS:
            problems.append(f"[DL3002] {user}: the runtime user is root")
        elif not name.isdigit() and not any(
                i.keyword == "RUN" and re.search(rf"\buseradd\b.*\s{re.escape(name)}\b", i.args)
                for i in runtime.instructions if i.line < user.line):
            problems.append(f"[user] {user}: user '{name}' is not created (useradd) in the runtime stage")

    listen = env.get("LEADD_LISTEN", "")
    host, _, port = listen.rpartition(":")
    if host not in ("0.0.0.0", "[::]"):
        problems.append(f"[listen] LEADD_LISTEN={listen!r}: in a container leadd must listen on "
                        "0.0.0.0 (or [::]), else the published port reaches nothing")
    exposed_ports = [p.split("/")[0] for p in exposed]
    if exposed_ports != [str(EXPECTED_PORT)]:
        problems.append(f"[expose] EXPOSE {' '.join(exposed) or '(none)'}: expected {EXPECTED_PORT}")
    if port != str(EXPECTED_PORT):
        problems.append(f"[listen] LEADD_LISTEN={listen!r} is not on the exposed port {EXPECTED_PORT}")

    data_dir = env.get("LEADD_DATA_DIR")
    if data_dir != EXPECTED_DATA_DIR:
        problems.append(f"[data] LEADD_DATA_DIR={data_dir!r}: expected {EXPECTED_DATA_DIR}")
    if volumes != [EXPECTED_DATA_DIR]:
        problems.append(f"[data] VOLUME {volumes}: expected [\"{EXPECTED_DATA_DIR}\"], the data dir")
    volume = last.get("VOLUME")
    if volume is not None:
        for ins in runtime.instructions:
            if ins.keyword == "RUN" and ins.line > volume.line and EXPECTED_DATA_DIR in ins.args:
                problems.append(f"[data] {ins}: changes to {EXPECTED_DATA_DIR} after VOLUME are lost")

    stop = last.get("STOPSIGNAL")
    if stop is None or stop.args not in ("SIGTERM", "15", "TERM"):
        problems.append(f"[stop] STOPSIGNAL {stop.args if stop else '(none)'}: leadd drains and "
                        "snapshots on SIGTERM; expected STOPSIGNAL SIGTERM")

    entrypoint = last.get("ENTRYPOINT")
    cmd = last.get("CMD")
    argv = ((entrypoint.exec_form() or []) if entrypoint else []) + ((cmd.exec_form() or []) if cmd else [])
    from_build = {posixpath.normpath(i.args.split()[-1]): i for i in runtime.instructions
                  if i.keyword == "COPY" and i.flag("from")}
    if not argv:
        problems.append("[command] the runtime stage has no exec-form ENTRYPOINT/CMD")
    else:
        if argv[0] not in from_build:
            problems.append(f"[command] the command runs {argv[0]}, which the runtime stage does not "
                            f"COPY --from the build stage ({sorted(from_build)})")
        if argv[1:2] != ["serve"]:
            problems.append(f"[command] the command {argv} does not run 'leadd serve'")
    for path, ins in from_build.items():
        source = ins.args.split()[0]
        build = next((s for s in stages if s.name == ins.flag("from")), None)
        if build and not any(source in i.args for i in build.instructions if i.keyword == "RUN"):
            problems.append(f"[command] {ins}: no RUN of stage {build.name} writes {source}")

    health = last.get("HEALTHCHECK")
    if health is None:
        problems.append("[DL3057] no HEALTHCHECK in the runtime stage")
    else:
        try:
            probe = df.healthcheck_command(health)
            timeout = df.duration_seconds(health.flag("timeout") or "30s")
        except df.DockerfileError as e:
            problems.append(f"[health] {e}")
        else:
            if probe is None:
                problems.append(f"[health] {health}: disables the health check")
            elif not isinstance(probe, list):
                problems.append(f"[health] {health}: use the exec form (the image has no need for a shell)")
            elif not argv or probe != [argv[0], "healthcheck"]:
                problems.append(f"[health] {health}: expected CMD [\"{argv[0] if argv else 'leadd'}\", "
                                "\"healthcheck\"] (GET /healthz on LEADD_LISTEN's port)")
            if probe is not None and timeout <= HEALTHCHECK_OWN_TIMEOUT_S:
                problems.append(f"[health] {health}: --timeout={health.flag('timeout')} does not leave "
                                f"`leadd healthcheck` its own {HEALTHCHECK_OWN_TIMEOUT_S} s")
    return problems


def package_list_read_by(install_deps_text, args, script_dir, workdir=None, copied=None):
    """The list file install-deps.sh reads when called with `args`: its first argument, or the
    default its source names beside itself. Paths in the image when `copied` maps them, else in
    the repo."""
    if args:
        path = posixpath.normpath(posixpath.join(workdir or "", args[0]))
    else:
        m = re.search(r'\$\{1:-\$\(dirname "\$0"\)/([\w.-]+)\}', install_deps_text)
        if not m:
            raise df.DockerfileError("cannot find install-deps.sh's default list "
                                     "(list=\"${1:-$(dirname \"$0\")/NAME}\"): update this check")
        path = posixpath.join(script_dir, m.group(1))
    if copied is None:
        return path
    return copied.get(posixpath.normpath(posixpath.join(workdir or "/", path)))


def check_one_source_of_truth(inputs, stages, files):
    problems = []
    makefile = inputs.read("Makefile")
    make_calls = {}
    for target in (DEPS_TARGET, BINARY_TARGET):
        commands = df.recipe(makefile, target)
        if commands is None:
            return [f"[one-source] the Makefile has no '{target}' target"]
        calls = [c for command in commands for c in df.script_calls(command)]
        if not calls:
            return [f"[one-source] 'make {target}' runs no script: {commands}"]
        for script, args in calls:
            make_calls[posixpath.normpath(script)] = args

    build_stages = stages[:-1]
    docker_calls = {}   # repo path of the script -> (args, workdir, what was copied so far, RUN)
    for stage in build_stages:
        workdir, copied = None, {}
        for ins in stage.instructions:
            if ins.keyword == "WORKDIR":
                workdir = posixpath.join(workdir or "/", ins.args)
            elif ins.keyword == "COPY" and not ins.flag("from"):
                words = df.exec_form(ins.args) or ins.args.split()
                try:
                    copied.update(df.copy_plan(words[:-1], words[-1], workdir, files))
                except df.DockerfileError:
                    pass  # reported by check_instructions
            elif ins.keyword == "RUN":
                unquoted = df.without_quoted(ins.args)
                if re.search(r"(^|[\s;&|(])(cmake|apt-get|apt|make|g\+\+|c\+\+)\s", unquoted):
                    problems.append(f"[one-source] {ins}: runs a build or package tool itself; "
                                    "run the scripts the Makefile runs instead")
                for script, args in df.script_calls(ins.args):
                    in_repo = copied.get(posixpath.normpath(posixpath.join(workdir or "/", script)))
                    if in_repo is None:
                        problems.append(f"[one-source] {ins}: runs {script}, which this stage did not COPY")
                        continue
                    docker_calls[in_repo] = (args, workdir, dict(copied), ins)
    if set(docker_calls) != set(make_calls):
        problems.append(f"[one-source] the build stages run {sorted(docker_calls)}; "
                        f"'make {DEPS_TARGET}' and 'make {BINARY_TARGET}' run {sorted(make_calls)}")

    # The package list: the one `make deps` installs, and nothing but the installer and the list
    # copied before it (so that a source change does not reinstall every package).
    deps_script = next((s for s in make_calls if posixpath.basename(s) == "install-deps.sh"), None)
    if deps_script is None:
        return problems + [f"[one-source] 'make {DEPS_TARGET}' does not run install-deps.sh"]
    try:
        script_text = inputs.read(deps_script)
    except OSError as e:
        return problems + [f"[one-source] {e}"]
    for line in script_text.splitlines():
        if APT_GET_INSTALL.search(line):
            if not re.search(r"\s(-y|--yes|-qq)\b", line):
                problems.append(f"[DL3014] {deps_script}: apt-get install without -y")
            if "--no-install-recommends" not in line:
                problems.append(f"[DL3015] {deps_script}: apt-get install without "
                                "--no-install-recommends")
    if deps_script in docker_calls:
        try:
            make_list = package_list_read_by(script_text, make_calls[deps_script],
                                             posixpath.dirname(deps_script))
            args, workdir, copied, ins = docker_calls[deps_script]
            image_script = next(p for p, c in copied.items() if c == deps_script)
            docker_list = package_list_read_by(script_text, args, posixpath.dirname(image_script),
                                               workdir, copied)
        except df.DockerfileError as e:
            problems.append(f"[one-source] {e}")
        else:
            if docker_list != make_list:
                problems.append(f"[one-source] {ins}: installs the packages of "
                                f"{docker_list or 'a file the stage did not COPY'}; "
                                f"'make {DEPS_TARGET}' installs {make_list}")
            extra = sorted(set(copied.values()) - {deps_script, docker_list})
            if extra:
                problems.append(f"[layers] {ins}: sources are copied before the packages are "
                                f"installed ({extra[:3]}...): every source change reinstalls them")
    return problems


# --- the tests ------------------------------------------------------------------------------------

class TheDockerfile(unittest.TestCase):
    def test_breaks_no_rule(self):
        problems = find_problems(Inputs())
        self.assertEqual(problems, [], "\n".join(problems))

    def test_the_makefile_targets_it_follows_exist(self):
        makefile = Inputs().read("Makefile")
        self.assertIn("scripts/install-deps.sh", " ".join(df.recipe(makefile, DEPS_TARGET)))
        self.assertIn("scripts/dist.sh", " ".join(df.recipe(makefile, BINARY_TARGET)))


def mutated(text, old, new):
    """`text` with `old` replaced by `new`; fails the test if `old` is not there (a mutation
    that no longer applies would make its test pass for nothing)."""
    if old not in text:
        raise AssertionError(f"the mutation's anchor is gone: {old!r}")
    return text.replace(old, new, 1)


class BrokenInputs(unittest.TestCase):
    """Each rule rejects a Dockerfile (or Makefile) broken the way it guards against."""

    def setUp(self):
        self.dockerfile = Inputs().read("Dockerfile")
        self.makefile = Inputs().read("Makefile")

    def assert_rejected(self, rule, old, new, file="Dockerfile"):
        """`old` -> `new` in `file` (or each pair of the lists `old` and `new`) must be reported
        under `rule`."""
        broken = self.dockerfile if file == "Dockerfile" else self.makefile
        for o, n in zip(*((old, new) if isinstance(old, list) else ([old], [new]))):
            broken = mutated(broken, o, n)
        problems = find_problems(Inputs({file: broken}))
        if os.environ.get("SHOW_PROBLEMS"):
            print(f"\n{rule}: " + "\n   ".join(problems))
        self.assertTrue(any(p.startswith(f"[{rule}]") for p in problems),
                        f"[{rule}] not reported for {old!r} -> {new!r}; got:\n" + "\n".join(problems))

    def test_base_image(self):
        self.assert_rejected("DL3007", "FROM debian:12-slim AS runtime", "FROM debian:latest AS runtime")
        self.assert_rejected("DL3006", "FROM debian:12-slim AS build", "FROM debian AS build")
        self.assert_rejected("debian-12", "FROM debian:12-slim AS runtime", "FROM ubuntu:22.04 AS runtime")
        self.assert_rejected("debian-12", "FROM debian:12-slim AS build", "FROM debian:11-slim AS build")

    def test_stages(self):
        self.assert_rejected("DL3022", "FROM debian:12-slim AS build", "FROM debian:12-slim")
        self.assert_rejected("DL3024", "FROM debian:12-slim AS runtime", "FROM debian:12-slim AS build")
        self.assert_rejected("DL3023", "COPY --from=build", "COPY --from=runtime")
        single = self.dockerfile.split("FROM debian:12-slim AS runtime")[0]
        problems = find_problems(Inputs({"Dockerfile": single}))
        self.assertTrue(any(p.startswith("[multi-stage]") for p in problems), problems)

    def test_user(self):
        self.assert_rejected("DL3002", "USER 10001:10001", "USER root")
        self.assert_rejected("DL3002", "USER 10001:10001", "USER 0:0")
        self.assert_rejected("DL3002", "USER 10001:10001\n", "")
        self.assert_rejected("user", "USER 10001:10001", "USER appuser")
        self.assert_rejected("DL3002", 'CMD ["serve"]', 'CMD ["serve"]\nUSER 10001')

    def test_volume_and_data_dir(self):
        self.assert_rejected("data", 'VOLUME ["/data"]\n', "")
        self.assert_rejected("data", 'VOLUME ["/data"]', 'VOLUME ["/var/lib/leadd"]')
        self.assert_rejected("data", "LEADD_DATA_DIR=/data", "LEADD_DATA_DIR=/srv")
        self.assert_rejected("data", 'EXPOSE 8080', 'EXPOSE 8080\nRUN mkdir -p /data/x')

    def test_network(self):
        self.assert_rejected("expose", "EXPOSE 8080", "EXPOSE 9090")
        self.assert_rejected("expose", "EXPOSE 8080\n", "")
        self.assert_rejected("listen", "LEADD_LISTEN=0.0.0.0:8080", "LEADD_LISTEN=127.0.0.1:8080")
        self.assert_rejected("listen", "LEADD_LISTEN=0.0.0.0:8080", "LEADD_LISTEN=0.0.0.0:9000")

    def test_stop_signal(self):
        self.assert_rejected("stop", "STOPSIGNAL SIGTERM", "STOPSIGNAL SIGKILL")
        self.assert_rejected("stop", "STOPSIGNAL SIGTERM\n", "")

    def test_healthcheck(self):
        self.assert_rejected("DL3057", 'HEALTHCHECK --interval=10s --timeout=5s --start-period=10s '
                             '--retries=3 \\\n    CMD ["/usr/local/bin/leadd", "healthcheck"]\n', "")
        self.assert_rejected("health", "HEALTHCHECK --interval", "HEALTHCHECK NONE\n# --interval")
        self.assert_rejected("health", 'CMD ["/usr/local/bin/leadd", "healthcheck"]',
                             "CMD curl -f http://127.0.0.1:8080/healthz")
        self.assert_rejected("health", 'CMD ["/usr/local/bin/leadd", "healthcheck"]',
                             'CMD ["/usr/bin/curl", "-f", "http://127.0.0.1:8080/healthz"]')
        self.assert_rejected("health", "--timeout=5s", "--timeout=2s")
        self.assert_rejected("DL3012", 'ENTRYPOINT [', 'HEALTHCHECK NONE\nENTRYPOINT [')

    def test_exec_form(self):
        self.assert_rejected("DL3025", 'CMD ["serve"]', "CMD serve")
        self.assert_rejected("DL3025", 'ENTRYPOINT ["/usr/local/bin/leadd"]', "ENTRYPOINT /usr/local/bin/leadd")
        self.assert_rejected("command", 'CMD ["serve"]', 'CMD ["version"]')
        self.assert_rejected("command", 'ENTRYPOINT ["/usr/local/bin/leadd"]', 'ENTRYPOINT ["/usr/bin/leadd"]')
        self.assert_rejected("DL4003", 'CMD ["serve"]', 'CMD ["serve"]\nCMD ["serve"]')
        self.assert_rejected("command", "/tmp/dist/leadd-*-linux-x86_64 /out/leadd",
                             "/tmp/dist/leadd-*-linux-x86_64 /opt/leadd")

    def test_apt(self):
        self.assert_rejected("DL3009", "scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*",
                             "scripts/install-deps.sh")
        runtime = "FROM debian:12-slim AS runtime\n"
        self.assert_rejected("DL3015", runtime, runtime + "RUN apt-get update && apt-get install -y "
                             "ca-certificates && rm -rf /var/lib/apt/lists/*\n")
        self.assert_rejected("DL3014", runtime, runtime + "RUN apt-get update && apt-get install "
                             "--no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/*\n")
        self.assert_rejected("DL3009", runtime, runtime + "RUN apt-get update && apt-get install -y "
                             "--no-install-recommends ca-certificates\n")
        self.assert_rejected("DL3005", runtime, runtime + "RUN apt-get update && apt-get upgrade -y "
                             "&& rm -rf /var/lib/apt/lists/*\n")
        self.assert_rejected("DL3027", runtime, runtime + "RUN apt install -y --no-install-recommends "
                             "ca-certificates && rm -rf /var/lib/apt/lists/*\n")
        self.assert_rejected("DL3004", "mkdir -m 0700 /data", "sudo mkdir -m 0700 /data")

    def test_copy_and_workdir(self):
        self.assert_rejected("DL3020", "COPY . .", "ADD . .")
        self.assert_rejected("DL3000", "WORKDIR /src", "WORKDIR src")
        self.assert_rejected("DL3021", "scripts/debian-packages.txt scripts/", "scripts/debian-packages.txt scripts")
        self.assert_rejected("DL3045", "WORKDIR /src\n", "")
        self.assert_rejected("DL3003", "RUN if [[", "RUN cd /src && if [[")

    def test_pipes_need_pipefail(self):
        # The Dockerfile has no pipe today: add one, to the build stage (which sets SHELL) and to
        # the runtime stage (which does not).
        pipe = ("scripts/dist.sh --out-dir /tmp/dist", "scripts/dist.sh --out-dir /tmp/dist | tee /tmp/log")
        self.assert_rejected("DL4006", ['SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n', pipe[0]],
                             ["", pipe[1]])
        self.assert_rejected("DL4006", ['SHELL ["/bin/bash", "-o", "pipefail", "-c"]', pipe[0]],
                             ['SHELL ["/bin/sh", "-o", "pipefail", "-c"]', pipe[1]])
        self.assert_rejected("DL4006", "&& chown leadd:leadd /data",
                             "&& chown leadd:leadd /data && getent passwd | grep -q leadd")
        # ... while the same pipe under the build stage's SHELL is fine.
        problems = find_problems(Inputs({"Dockerfile": mutated(self.dockerfile, *pipe)}))
        self.assertFalse([p for p in problems if p.startswith("[DL4006]")], problems)

    def test_context(self):
        self.assert_rejected("context", "COPY . .", "COPY sources/ src/")
        self.assert_rejected("context", "COPY . .", "COPY . .\nCOPY build/ build/")
        ignore = Inputs().read(".dockerignore")
        problems = find_problems(Inputs({".dockerignore": ignore + "scripts/*.sh\n"}))
        self.assertTrue(any(p.startswith("[context]") and "install-deps.sh" in p for p in problems),
                        problems)
        problems = find_problems(Inputs({".dockerignore": mutated(ignore, "\ndata\n", "\n")}))
        self.assertTrue(any(p.startswith("[context]") and "data/initial-api-key" in p for p in problems),
                        problems)

    def test_one_source_of_truth(self):
        # The build stage builds with cmake itself instead of the script `make dist` runs.
        self.assert_rejected("one-source", "scripts/dist.sh --out-dir /tmp/dist",
                             "cmake -S . -B b -DCMAKE_BUILD_TYPE=Release && cmake --build b")
        # ... or installs packages of its own.
        self.assert_rejected("one-source", "RUN scripts/install-deps.sh && rm",
                             "RUN apt-get update && apt-get install -y --no-install-recommends "
                             "g++ cmake && rm")
        # ... or another package list.
        self.assert_rejected("one-source", "RUN scripts/install-deps.sh &&",
                             "RUN scripts/install-deps.sh load/debian-packages.txt &&")
        self.assert_rejected("one-source", "COPY scripts/install-deps.sh scripts/debian-packages.txt scripts/",
                             "COPY scripts/install-deps.sh scripts/\nCOPY load/debian-packages.txt scripts/")
        # ... or the Makefile moves on and the Dockerfile does not.
        self.assert_rejected("one-source", "dist: deps\n\tscripts/dist.sh",
                             "dist: deps\n\tscripts/release.sh", file="Makefile")
        self.assert_rejected("one-source", "deps:\n\t@scripts/install-deps.sh",
                             "deps:\n\t@scripts/install-deps.sh scripts/all-packages.txt", file="Makefile")

    def test_sources_copied_after_the_packages(self):
        self.assert_rejected("layers", "COPY scripts/install-deps.sh scripts/debian-packages.txt scripts/",
                             "COPY . .\nCOPY scripts/install-deps.sh scripts/debian-packages.txt scripts/")

    def test_installer_flags(self):
        script = Inputs().read("scripts/install-deps.sh")
        broken = mutated(script, "--no-install-recommends", "")
        problems = find_problems(Inputs({"scripts/install-deps.sh": broken}))
        self.assertTrue(any(p.startswith("[DL3015]") for p in problems), problems)


class Parsing(unittest.TestCase):
    def test_continuations_and_comments(self):
        ins = df.parse("FROM debian:12-slim\nRUN a \\\n# a comment inside\n\n    && b\nCMD [\"x\"]\n")
        self.assertEqual([i.keyword for i in ins], ["FROM", "RUN", "CMD"])
        self.assertEqual(ins[1].args, "a     && b")
        self.assertEqual(ins[2].line, 6)

    def test_flags(self):
        ins = df.parse("RUN --mount=type=cache,target=/c make\nCOPY --from=build --chown=1:1 /a /b\n")
        self.assertEqual(ins[0].flag("mount"), "type=cache,target=/c")
        self.assertEqual((ins[1].flag("from"), ins[1].args), ("build", "/a /b"))

    def test_env(self):
        [ins] = df.parse('ENV A=1 B="two words" \\\n    C=3\n')
        self.assertEqual(df.env_pairs(ins), [("A", "1"), ("B", "two words"), ("C", "3")])

    def test_script_calls(self):
        self.assertEqual(df.script_calls('x=$(scripts/dist.sh --out-dir /o) && install "$x" /y'),
                         [("scripts/dist.sh", ["--out-dir", "/o"])])
        self.assertEqual(df.script_calls("scripts/install-deps.sh && rm -rf /l/*"),
                         [("scripts/install-deps.sh", [])])
        self.assertEqual(df.script_calls("echo scripts/dist.sh"), [])

    def test_dockerignore(self):
        ignore = df.DockerIgnore("build\n**/*.pyc\n/data\nload/results\n!build/keep\n")
        self.assertTrue(ignore.excluded("build/release/leadd"))
        self.assertFalse(ignore.excluded("build/keep"))
        self.assertFalse(ignore.excluded("cmake/build.cmake"))
        self.assertTrue(ignore.excluded("tests/x/y.pyc"))
        self.assertTrue(ignore.excluded("data/initial-api-key"))
        self.assertFalse(ignore.excluded("load/bench.py"))

    def test_copy_plan(self):
        files = ["CMakeLists.txt", "scripts/a.sh", "scripts/b.txt", "src/x/y.cpp"]
        self.assertEqual(df.copy_plan(["src/"], "src/", "/w", files), [("/w/src/x/y.cpp", "src/x/y.cpp")])
        self.assertEqual(df.copy_plan(["scripts/a.sh", "CMakeLists.txt"], "./", "/w", files),
                         [("/w/a.sh", "scripts/a.sh"), ("/w/CMakeLists.txt", "CMakeLists.txt")])
        self.assertEqual(df.copy_plan(["scripts/*.sh"], "/bin/", None, files), [("/bin/a.sh", "scripts/a.sh")])
        self.assertEqual(df.copy_plan(["CMakeLists.txt"], "/f", None, files), [("/f", "CMakeLists.txt")])
        with self.assertRaises(df.DockerfileError):
            df.copy_plan(["nope/"], "/n/", None, files)


if __name__ == "__main__":
    unittest.main()
