"""Disk full, for real: a leadd whose data dir is a 2 MiB tmpfs, filled up by a filler file.

While the disk is full, writes (POST/PUT/DELETE, admin too) get 503 SERVICE_UNAVAILABLE with the
error envelope and Retry-After, change nothing, and reads go on. Once the filler is deleted the
server takes writes again by itself, without a restart. After kill -9 and a restart on the same
tmpfs, every write acknowledged (2xx) before, during and after the fault is there.

Needs root (mount -t tmpfs); skips with a message otherwise. The tmpfs is unmounted at the end,
also on failure. Stdlib only; LEADD_BIN names the binary (CTest sets it)."""

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness  # noqa: E402

LEADS = "/api/v1/leads"
SLACK_BYTES = 12 * 1024  # what the filler leaves free: room for a few dozen lead records


def free_bytes(path):
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.servers = []
        self.mount_dir = tempfile.mkdtemp(prefix="leadd-disk-full-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", self.mount_dir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.mount_dir)
            self.skipTest(f"cannot mount a 2 MiB tmpfs at {self.mount_dir} (this test needs root): "
                          f"{(r.stderr or r.stdout).strip()}")
        self.addCleanup(self._tear_down)
        self.data_dir = os.path.join(self.mount_dir, "data")
        os.mkdir(self.data_dir)
        self.filler = os.path.join(self.mount_dir, "filler")

    def _tear_down(self):
        for s in self.servers:
            try:
                s.stop(signal.SIGKILL)
            except Exception:  # already stopped: its pipes are closed
                pass
            try:
                os.remove(s.log_path)
            except OSError:
                pass
        r = subprocess.run(["umount", self.mount_dir], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", self.mount_dir], capture_output=True)
        os.rmdir(self.mount_dir)

    def start(self):
        s = harness.Server(data_dir=self.data_dir)
        self.servers.append(s)
        return s

    # -- helpers ---------------------------------------------------------------------------------

    def assert_unavailable(self, r):
        self.assertEqual(r.status, 503, r)
        body = r.json()
        self.assertIs(body["success"], False, body)
        self.assertEqual(body["code"], "SERVICE_UNAVAILABLE", body)
        self.assertIsInstance(body["error"], str)
        self.assertTrue(body["error"])
        self.assertIn("requestId", body)
        self.assertIn("retry-after", r.headers, r.headers)
        self.assertGreaterEqual(int(r.headers["retry-after"]), 1)

    def total(self, s):
        r = s.request("GET", LEADS + "?limit=1")
        self.assertEqual(r.status, 200, r)
        return r.json()["data"]["pagination"]["total"]

    def get(self, s, lead_id):
        return s.request("GET", f"{LEADS}/{lead_id}")

    def fill_disk(self):
        """Writes the filler so that only about SLACK_BYTES stay free."""
        size = max(0, free_bytes(self.mount_dir) - SLACK_BYTES)
        chunk = b"\0" * 65536
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            written = 0
            while written < size:
                written += os.write(fd, chunk[:min(len(chunk), size - written)])
        except OSError as e:
            if e.errno != errno.ENOSPC:
                raise
        finally:
            os.close(fd)
        self.assertLess(free_bytes(self.mount_dir), SLACK_BYTES + 8192)

    # -- the test --------------------------------------------------------------------------------

    def test_disk_full_read_only_heal_and_nothing_acknowledged_lost(self):
        s = self.start()
        acked = {}       # lead id -> (the lead as the last 2xx response showed it, its ETag)
        deleted = set()  # lead ids whose DELETE was acknowledged
        maybe_created = 0  # POSTs answered 503 after their record was queued ("may or may not")
        seq = [0]

        def post(tag):
            seq[0] += 1
            return s.request("POST", LEADS, {"name": f"Lead {tag} {seq[0]}",
                                             "email": f"lead-{tag}-{seq[0]}@example.com",
                                             "source": "disk-full", "metadata": {"n": seq[0]}})

        def record_created(r):
            self.assertEqual(r.status, 201, r)
            lead = r.json()["data"]
            acked[lead["id"]] = (lead, r.headers.get("etag"))
            return lead

        # 1. Healthy: a few of each write.
        for _ in range(5):
            record_created(post("before"))
        first = next(iter(acked))
        r = s.request("PUT", f"{LEADS}/{first}", {"status": "contacted", "metadata": {"step": "before"}})
        self.assertEqual(r.status, 200, r)
        acked[first] = (r.json()["data"], r.headers.get("etag"))
        victim = list(acked)[1]
        r = s.request("DELETE", f"{LEADS}/{victim}")
        self.assertEqual(r.status, 200, r)
        deleted.add(victim)
        del acked[victim]

        # 2. Fill the disk, then create until the log cannot be written.
        self.fill_disk()
        first_refusal = None
        for _ in range(3000):
            r = post("filling")
            if r.status == 201:
                record_created(r)
                continue
            first_refusal = r
            break
        self.assertIsNotNone(first_refusal, "the disk never filled up")
        print(f"\n  disk full after {len(acked)} acknowledged creates; first refusal: "
              f"{first_refusal.json()['error']!r}", file=sys.stderr)
        self.assert_unavailable(first_refusal)
        if "may or may not" in first_refusal.json()["error"]:
            maybe_created += 1  # its record was queued before the failure was known

        # 3. Read-only: writes refused at once and without effect, reads fine.
        total_full = self.total(s)
        target = next(iter(acked))
        before = self.get(s, target)
        self.assertEqual(before.status, 200, before)

        refused_email = "refused-while-full@example.com"
        r = s.request("POST", LEADS, {"name": "Refused", "email": refused_email})
        self.assert_unavailable(r)
        self.assertNotIn("may or may not", r.json()["error"], "refused before anything changed")
        r = s.request("PUT", f"{LEADS}/{target}", {"name": "Changed while full", "status": "lost"})
        self.assert_unavailable(r)
        r = s.request("PATCH", f"{LEADS}/{target}", {"metadata": {"full": True}})
        self.assert_unavailable(r)
        r = s.request("DELETE", f"{LEADS}/{target}")
        self.assert_unavailable(r)
        r = s.admin("POST", "/api/v1/admin/workspaces", {"name": "while-full"})
        self.assert_unavailable(r)

        after = self.get(s, target)
        self.assertEqual(after.status, 200, after)
        self.assertEqual(after.json(), before.json())
        self.assertEqual(after.headers.get("etag"), before.headers.get("etag"))
        self.assertEqual(self.total(s), total_full)
        r = s.request("GET", LEADS + "?limit=100&source=disk-full")
        self.assertEqual(r.status, 200, r)
        r = s.request("GET", LEADS + "?search=refused-while-full")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json()["data"]["pagination"]["total"], 0, r)
        self.assertEqual(s.request("GET", "/healthz", auth=None).status, 200)
        self.assertEqual(s.request("GET", "/readyz", auth=None).status, 503)

        # 4. Free the disk: writes come back by themselves, no restart.
        os.remove(self.filler)
        healed = None
        deadline = time.time() + 10
        while time.time() < deadline:
            r = s.request("POST", LEADS, {"name": "Refused, then accepted", "email": refused_email})
            if r.status == 201:
                healed = r
                break
            self.assert_unavailable(r)
            time.sleep(0.05)
        self.assertIsNotNone(healed, "writes did not come back within 10 s of freeing the disk")
        record_created(healed)  # the refused create's email was not kept reserved
        self.assertEqual(s.request("GET", "/readyz", auth=None).status, 200)
        r = s.request("PUT", f"{LEADS}/{target}", {"name": "Changed after the fault", "status": "qualified"})
        self.assertEqual(r.status, 200, r)
        acked[target] = (r.json()["data"], r.headers.get("etag"))
        doomed = [i for i in acked if i != target][-1]
        r = s.request("DELETE", f"{LEADS}/{doomed}")
        self.assertEqual(r.status, 200, r)
        deleted.add(doomed)
        del acked[doomed]
        for _ in range(5):
            record_created(post("after"))

        # 5. kill -9 and restart on the same tmpfs: every acknowledged write is there.
        s.stop(signal.SIGKILL)
        s2 = self.start()
        self.assertEqual(s2.api_key, s.api_key)
        with open(s2.log_path, errors="replace") as f:
            repairs = [line.strip() for line in f if "recovery:" in line]
        print("  restart: " + ("; ".join(repairs) or "no repairs"), file=sys.stderr)
        for lead_id, (lead, etag) in acked.items():
            r = self.get(s2, lead_id)
            self.assertEqual(r.status, 200, (lead_id, r))
            self.assertEqual(r.json()["data"], lead)
            self.assertIsNotNone(etag)
            self.assertEqual(r.headers.get("etag"), etag, lead_id)
        for lead_id in deleted:
            self.assertEqual(self.get(s2, lead_id).status, 404, lead_id)
        total = self.total(s2)
        self.assertGreaterEqual(total, len(acked))
        self.assertLessEqual(total, len(acked) + maybe_created)
        record_created(s2.request("POST", LEADS, {"name": "After restart", "email": "after-restart@example.com"}))


if __name__ == "__main__":
    unittest.main(verbosity=2)
