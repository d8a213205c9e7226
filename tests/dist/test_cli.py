"""`leadd --help`, `leadd version` and refusals, as a user sees them: exit codes, stdout vs
stderr, one-line errors naming the flag, every flag listed with its default and LEADD_*
variable, and packaging/leadd.env mentioning every one of those variables.

Usage: test_cli.py LEADD_BINARY SOURCE_DIR"""

import os
import re
import subprocess
import sys
import tempfile
import unittest

BINARY = SOURCE_DIR = None


def run(*args, env=None):
    with tempfile.TemporaryDirectory(prefix="leadd-cli-") as cwd:  # a stray start stays in here
        return subprocess.run([BINARY, *args], cwd=cwd, env=env or {}, capture_output=True,
                              text=True, timeout=20)


class Help(unittest.TestCase):
    def test_every_spelling_prints_the_same_help(self):
        texts = set()
        for args in (["--help"], ["-h"], ["help"], ["serve", "--help"], ["serve", "-h"]):
            r = run(*args)
            self.assertEqual((r.returncode, r.stderr), (0, ""), args)
            texts.add(r.stdout)
        self.assertEqual(len(texts), 1)

    def test_flags_are_grouped_with_default_and_variable(self):
        text = run("--help").stdout
        positions = [text.index(f"\n{group}:\n") for group in ("Network", "Storage", "Security", "Logging")]
        self.assertEqual(positions, sorted(positions))
        flags = re.findall(r"^  --([a-z-]+) ", text, re.M)
        self.assertGreaterEqual(len(flags), 15)
        for flag in flags:
            var = "LEADD_" + flag.upper().replace("-", "_")
            self.assertRegex(text, rf"(default \S+|no default), env {var}\n", flag)
        self.assertIn("LEADD_ADMIN_TOKEN:", text)
        for line in text.splitlines():
            self.assertLessEqual(len(line), 100, line)

    def test_the_example_environment_file_has_every_variable(self):
        listed = set(re.findall(r"env (LEADD_[A-Z_]+)", run("--help").stdout)) | {"LEADD_ADMIN_TOKEN"}
        with open(os.path.join(SOURCE_DIR, "packaging", "leadd.env")) as f:
            in_file = set(re.findall(r"^#?(LEADD_[A-Z_]+)=", f.read(), re.M))
        self.assertEqual(listed, in_file)


class Version(unittest.TestCase):
    def test_subcommand_and_flag(self):
        outputs = set()
        for args in (["version"], ["--version"], ["serve", "--version"]):
            r = run(*args)
            self.assertEqual((r.returncode, r.stderr), (0, ""), args)
            outputs.add(r.stdout)
        self.assertEqual(len(outputs), 1)
        self.assertRegex(outputs.pop(), r"^leadd \S+ \(commit (?:[0-9a-f]+|unknown), \S+ \S+, \w+.*\)\n$")


class Refusals(unittest.TestCase):
    CASES = [
        (["--bogus"], {}, "--bogus"),
        (["serve", "--bogus=1"], {}, "--bogus"),
        (["--data", "x"], {}, "--data"),  # no abbreviations of --data-dir
        (["--admin-token", "x"], {}, "--admin-token"),
        (["--threads", "abc"], {}, "--threads"),
        (["--threads=0"], {}, "--threads"),
        (["--listen"], {}, "--listen"),
        (["--listen", "nocolon"], {}, "--listen"),
        (["--fsync=sometimes"], {}, "--fsync"),
        (["serve", "extra"], {}, "'extra'"),
        (["frobnicate"], {}, "frobnicate"),
        ([], {"LEADD_THREADS": "many"}, "LEADD_THREADS"),
        ([], {"LEADD_FSYNC": "sometimes"}, "LEADD_FSYNC"),
        ([], {"LEADD_SHARDS": "12"}, "LEADD_SHARDS"),
    ]

    def test_exit_2_with_one_line_naming_the_flag(self):
        for args, env, needle in self.CASES:
            with self.subTest(args=args, env=env):
                r = run(*args, env=env)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertEqual(r.stdout, "")
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith("leadd: "), r.stderr)
                self.assertIn(needle, r.stderr)


if __name__ == "__main__":
    BINARY, SOURCE_DIR = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    unittest.main(argv=sys.argv[:1], verbosity=2)
