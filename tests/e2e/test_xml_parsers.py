"""The agent's two XML parsers on the simulator's real answers: a full event.from dump and
the answer after churn (mod and del events) are decoded by the fast parser and by libxml2
in several chunk sizes, and every xo.objects record they make must be byte-identical
(bench_ingest_decode --compare-parsers). Then an agent set to xapi.xml_parser = libxml2
still mirrors the pool exactly, and a bad value is a configuration error."""
import os
import subprocess
import unittest
import urllib.request

import harness


def xmlrpc_call(url, method, params):
    """The raw XML-RPC answer of one call whose params are XML-RPC value bodies."""
    body = ("<?xml version='1.0'?><methodCall><methodName>%s</methodName><params>%s"
            "</params></methodCall>" % (method, "".join(
                f"<param><value>{p}</value></param>" for p in params)))
    req = urllib.request.Request(url, data=body.encode(), method="POST",
                                 headers={"Content-Type": "text/xml"})
    with urllib.request.urlopen(req, timeout=120 * harness.SCALE) as r:
        return r.read()


def member(doc, name):
    """The text of a top-level string member of an answer's Value (e.g. the token)."""
    return doc.split(f"<name>{name}</name><value>".encode())[-1].split(b"</value>")[0].decode()


class XmlParsers(unittest.TestCase):
    def compare(self, path, chunk):
        r = subprocess.run([harness.binary("bench_ingest_decode"), path, "--compare-parsers",
                            "--chunk", str(chunk)], capture_output=True, text=True,
                           timeout=600 * harness.SCALE)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        lines = [l for l in r.stdout.splitlines() if l.startswith("compare ")]
        self.assertEqual(len(lines), 2, r.stdout)
        for line in lines:
            f = dict(kv.split("=") for kv in line.split() if "=" in kv)
            self.assertGreater(int(f["records"]), 0, line)
            self.assertEqual(f["identical"], f["records"], line)
            self.assertEqual(f["differing"], "0", line)
        return lines

    def test_dump_and_churn_identical_records(self):
        with harness.Stack() as st:
            sim = st.start_sim(vms=150, hosts=2, seed=11)
            login = xmlrpc_call(sim.url, "session.login_with_password", ["root", "password"])
            sess = member(login, "Value")
            classes = "<array><data><value>*</value></data></array>"
            dump = xmlrpc_call(sim.url, "event.from",
                               [sess, classes, "", "<double>1.0</double>"])
            self.assertGreater(len(dump), 500000)
            sim.post("/sim/churn?n=400&rate=0&seed=5")
            delta = xmlrpc_call(sim.url, "event.from",
                                [sess, classes, member(dump, "token"), "<double>1.0</double>"])
            self.assertIn(b"<value>del</value>", delta)
            self.assertIn(b"<value>mod</value>", delta)
            for name, body in (("dump.xml", dump), ("delta.xml", delta)):
                path = st.path(name)
                with open(path, "wb") as f:
                    f.write(body)
                for chunk in (16384, 4093, 7):
                    self.compare(path, chunk)

    def test_agent_over_libxml2(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1, partitions=3)
            sim = st.start_sim(vms=60, hosts=2, seed=12)
            st.start_agent(sim, k, extra={"xapi": {"xml_parser": "libxml2"}})
            self.assertEqual(harness.wait_equal(k, sim, 90), [])
            sim.post("/sim/churn?n=100&rate=0&seed=6")
            self.assertEqual(harness.wait_equal(k, sim, 90), [])
            bad = st.start_agent(sim, k, extra={"xapi": {"xml_parser": "expat"}}, name="bad")
            harness.wait_until(lambda: bad.p.poll() is not None, 30, what="bad agent exits")
            self.assertNotEqual(bad.p.returncode, 0)
            self.assertIn("xapi.xml_parser must be fast or libxml2", bad.log_text())


if __name__ == "__main__":
    unittest.main(verbosity=2)
