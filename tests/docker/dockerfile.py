"""Reads the Dockerfile, the .dockerignore and the Makefile the way `docker build` and `make`
would, as far as the checks in this folder need; shared by test_dockerfile.py (the rules) and
test_image.py (the stages run without Docker). Standard library only (Debian's python3).

What it does not model, and refuses rather than guesses: parser directives other than
`# syntax=`, a different escape character, heredocs, variables in COPY/WORKDIR/USER arguments."""

import fnmatch
import json
import os
import posixpath
import re
import shlex
from dataclasses import dataclass, field

# Instructions whose leading `--name=value` words are options, not arguments.
FLAGGED = {"FROM", "RUN", "COPY", "ADD", "HEALTHCHECK"}


class DockerfileError(Exception):
    """Something in the inputs that these checks cannot read or that docker build would reject."""


@dataclass
class Instruction:
    keyword: str            # upper case: RUN, COPY, ...
    args: str               # everything after the options, continuation lines joined
    line: int               # where the instruction starts (1-based)
    flags: list = field(default_factory=list)  # [(name, value)], e.g. ("from", "build")

    def flag(self, name):
        """The value of option --name (the last one if repeated), or None."""
        values = [v for n, v in self.flags if n == name]
        return values[-1] if values else None

    def exec_form(self):
        """The JSON array of an exec-form CMD/ENTRYPOINT/RUN/SHELL/VOLUME, or None (shell form)."""
        return exec_form(self.args)

    def __str__(self):
        options = "".join(f" --{n}={v}" for n, v in self.flags)
        return f"line {self.line}: {self.keyword}{options} {self.args}"


@dataclass
class Stage:
    index: int
    base: str               # the FROM image (or an earlier stage's name)
    name: str | None        # the AS name
    from_line: int
    instructions: list      # after the FROM


def exec_form(text):
    text = text.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None  # docker build, too, runs a malformed array as a shell command
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def parse(text):
    """The instructions of a Dockerfile, in order."""
    lines = text.splitlines()
    instructions = []
    i = 0
    # Parser directives: comment lines `# name=value` before anything else.
    while i < len(lines):
        m = re.match(r"^#\s*([A-Za-z]+)\s*=\s*(.*?)\s*$", lines[i])
        if not m:
            break
        directive = m.group(1).lower()
        if directive == "escape" and m.group(2) != "\\":
            raise DockerfileError(f"line {i + 1}: escape character {m.group(2)!r} is not supported here")
        i += 1
    while i < len(lines):
        stripped = lines[i].strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        start = i
        text_so_far = lines[i].rstrip()
        i += 1
        # A trailing backslash continues the instruction; comment and empty lines inside it are
        # dropped, as docker build does.
        while text_so_far.endswith("\\"):
            text_so_far = text_so_far[:-1]
            while i < len(lines) and (not lines[i].strip() or lines[i].lstrip().startswith("#")):
                i += 1
            if i == len(lines):
                break
            text_so_far += lines[i].rstrip()
            i += 1
        words = text_so_far.strip().split(None, 1)
        keyword = words[0].upper()
        args = words[1] if len(words) > 1 else ""
        if "<<" in args and keyword in ("RUN", "COPY"):
            raise DockerfileError(f"line {start + 1}: heredocs are not supported by these checks")
        flags = []
        if keyword in FLAGGED:
            while args.startswith("--"):
                word, _, rest = args.partition(" ")
                name, _, value = word[2:].partition("=")
                flags.append((name, value))
                args = rest.lstrip()
        instructions.append(Instruction(keyword, args.strip(), start + 1, flags))
    return instructions


def stages(instructions):
    """The build stages; raises if anything but ARG comes before the first FROM."""
    result = []
    for ins in instructions:
        if ins.keyword == "FROM":
            words = ins.args.split()
            name = None
            if len(words) == 3 and words[1].upper() == "AS":
                name = words[2]
            elif len(words) != 1:
                raise DockerfileError(f"{ins}: expected 'FROM image [AS name]'")
            result.append(Stage(len(result), words[0], name, ins.line, []))
        elif not result:
            if ins.keyword != "ARG":
                raise DockerfileError(f"{ins}: only ARG may come before the first FROM")
        else:
            result[-1].instructions.append(ins)
    if not result:
        raise DockerfileError("no FROM instruction")
    return result


def env_pairs(ins):
    """[(name, value)] of an ENV instruction (`ENV A=1 B="two words"` or the old `ENV A 1`)."""
    first = ins.args.split(None, 1)[0] if ins.args else ""
    if "=" not in first:
        name, _, value = ins.args.partition(" ")
        return [(name, value.strip())]
    pairs = []
    for word in shlex.split(ins.args):
        name, eq, value = word.partition("=")
        if not eq:
            raise DockerfileError(f"{ins}: '{word}' is not NAME=value")
        pairs.append((name, value))
    return pairs


def arg_default(ins):
    """(name, default or None) of an ARG instruction."""
    name, eq, value = ins.args.partition("=")
    if not eq:
        return name.strip(), None
    words = shlex.split(value) if value.strip() else [""]
    return name.strip(), words[0] if words else ""


def healthcheck_command(ins):
    """The CMD of a HEALTHCHECK: a list (exec form), a str (shell form) or None (NONE)."""
    words = ins.args.split(None, 1)
    if not words or words[0].upper() == "NONE":
        return None
    if words[0].upper() != "CMD" or len(words) < 2:
        raise DockerfileError(f"{ins}: expected HEALTHCHECK [options] CMD ...")
    return exec_form(words[1]) or words[1]


def duration_seconds(text):
    """A Docker duration (`30s`, `1m30s`, `500ms`) in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6, "ns": 1e-9}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|ns|h|m|s)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise DockerfileError(f"'{text}' is not a duration")
    return sum(float(n) * units[u] for n, u in parts)


# --- .dockerignore -----------------------------------------------------------------------------

def _pattern_regex(pattern):
    """Go's filepath.Match plus `**` (any number of directories), as .dockerignore uses them."""
    out = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out += "(?:.*/)?"
                i += 1
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i)
            if end < 0:
                raise DockerfileError(f"bad pattern {pattern!r}")
            out += "[" + pattern[i + 1:end].replace("!", "^", 1) + "]"
            i = end
        else:
            out += re.escape(c)
        i += 1
    return re.compile(out + r"\Z")


class DockerIgnore:
    """The rules of a .dockerignore: the last pattern that matches a path (or one of its parent
    directories) decides; `!pattern` puts a path back."""

    def __init__(self, text):
        self.rules = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            keep = line.startswith("!")
            pattern = posixpath.normpath(line[1:].strip() if keep else line).lstrip("/")
            self.rules.append((keep, _pattern_regex(pattern)))

    @property
    def has_exceptions(self):
        return any(keep for keep, _ in self.rules)

    def excluded(self, path):
        path = posixpath.normpath(path).lstrip("/")
        if path == ".":
            return False
        parents = [path]
        while "/" in parents[-1]:
            parents.append(parents[-1].rsplit("/", 1)[0])
        verdict = False
        for keep, regex in self.rules:
            if any(regex.match(p) for p in parents):
                verdict = not keep
        return verdict


def context_files(repo, ignore):
    """Every file docker build would send from `repo` (paths relative to it, sorted)."""
    files = []
    for top, dirs, names in os.walk(repo):
        rel_top = os.path.relpath(top, repo)
        rel_top = "" if rel_top == "." else rel_top + "/"
        if not ignore.has_exceptions:  # without `!` rules an excluded folder is excluded whole
            dirs[:] = [d for d in dirs if not ignore.excluded(rel_top + d)]
        files.extend(rel_top + n for n in names if not ignore.excluded(rel_top + n))
    return sorted(files)


def copy_plan(sources, dest, workdir, files):
    """What a COPY of `sources` (context paths, wildcards allowed) to `dest` puts where:
    [(absolute path in the image, context path)], as docker build does it: a folder's contents
    go into dest; a file goes to dest itself, or into it if dest ends in / or there are several
    sources. `files` is context_files(). Raises DockerfileError for a source that matches
    nothing (missing or excluded by .dockerignore)."""
    if dest.startswith("$") or any(s.startswith("$") for s in sources):
        raise DockerfileError(f"COPY with variables is not supported here: {sources} {dest}")
    target = posixpath.normpath(posixpath.join(workdir or "/", dest))
    into = dest.endswith("/") or dest in (".", "./") or len(sources) > 1
    plan = []
    for source in sources:
        source = posixpath.normpath(source).lstrip("/")
        if source == ".":
            plan.extend((posixpath.join(target, f), f) for f in files)
            continue
        matched = False
        for f in files:
            # The source may name the file, or a folder it is in, or match either by wildcard.
            parts = f.split("/")
            for depth in range(1, len(parts) + 1):
                candidate = "/".join(parts[:depth])
                if candidate == source or (any(c in source for c in "*?[") and
                                           source.count("/") == depth - 1 and
                                           fnmatch.fnmatchcase(candidate, source)):
                    matched = True
                    if depth == len(parts):  # a file
                        where = posixpath.join(target, parts[-1]) if into else target
                    else:                    # a folder: its contents
                        where = posixpath.join(target, "/".join(parts[depth:]))
                    plan.append((where, f))
                    break
        if not matched:
            raise DockerfileError(f"COPY source '{source}' is not in the build context "
                                  "(missing, or excluded by .dockerignore)")
    return plan


# --- Makefile and shell commands ----------------------------------------------------------------

def recipe(makefile_text, target):
    """The command lines of a Makefile rule (leading @, - and + dropped), or None if no rule."""
    lines = makefile_text.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^([^\s:=#][^:=#]*?)\s*:(?!=)", line)
        if m and target in m.group(1).split():
            commands = []
            for body in lines[i + 1:]:
                if not body.startswith("\t"):
                    break
                commands.append(body[1:].lstrip("@-+ "))
            return commands
    return None


SHELL_OPERATORS = {"&&", "||", ";", "|", "(", ")", "&", ";;", "$("}


def script_calls(command):
    """[(script, [args])] for each `*.sh` run as a command in a shell command line (also inside
    $(...)), e.g. 'x=$(scripts/dist.sh --out-dir /o) && y' gives [('scripts/dist.sh', ['--out-dir', '/o'])]."""
    lexer = shlex.shlex(command.replace("$(", " $( "), posix=True, punctuation_chars="();|&")
    lexer.whitespace_split = True
    tokens = list(lexer)
    calls = []
    at_command = True
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token in SHELL_OPERATORS or token == "$":
            at_command = True
        elif at_command and re.fullmatch(r"[\w.-]+=\S*", token):
            pass  # an assignment before the command
        elif at_command:
            if token.endswith(".sh"):
                args = []
                j = i + 1
                while j < len(tokens) and tokens[j] not in SHELL_OPERATORS and not tokens[j].startswith(">"):
                    args.append(tokens[j])
                    j += 1
                calls.append((token, args))
            at_command = False
        i += 1
    return calls


def without_quoted(command):
    """The command with quoted strings blanked out (for spotting operators such as |)."""
    return re.sub(r"'[^']*'|\"(?:\\.|[^\"\\])*\"", "''", command)
