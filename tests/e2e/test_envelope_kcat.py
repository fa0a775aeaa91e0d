"""Messages built by the envelope module and produced by the Kafka helpers are read back by
kcat byte for byte: keys, values, tombstones, partitions and signature headers."""
import json
import os
import subprocess
import unittest

import harness


class EnvelopeBytesThroughKcat(unittest.TestCase):
    def test_every_kind_byte_for_byte(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1, partitions=6)
            exe = os.path.join(harness.build_dir(), "tests", "envelope_produce")
            out = subprocess.run([exe, k.bootstrap], capture_output=True, text=True,
                                 timeout=60, check=True).stdout
            sent = [l.split(" ") for l in out.strip().splitlines()]
            self.assertEqual(len(sent), 6)
            by_topic = {}
            for topic, part, key, hexval, sig in sent:
                by_topic.setdefault(topic, []).append((int(part), key, hexval, sig))
            for topic, expected in by_topic.items():
                got = harness.kcat_read(k.bootstrap, topic)
                self.assertEqual(len(got), len(expected), topic)
                for (part, key, hexval, sig), (gkey, gval, ghdr) in zip(expected, got):
                    self.assertEqual(gkey, key)
                    if hexval == "NULL":
                        self.assertIsNone(gval)
                        self.assertEqual(ghdr.get("xo-op"), "del")
                    else:
                        self.assertEqual(gval, bytes.fromhex(hexval), f"{topic} {key}")
                        self.assertEqual(json.loads(gval)["v"], 1)
                    if sig != "-":
                        self.assertEqual(ghdr.get("xo-sig"), sig)
                        self.assertEqual(len(ghdr.get("xo-key", "")), 16)
            # All of one pool's messages are on the pool's partition.
            parts = {int(p) for _, p, _, _, _ in sent}
            self.assertEqual(len(parts), 1)
            out = subprocess.run(["kcat", "-C", "-b", k.bootstrap, "-t", "xo.objects", "-p",
                                  str(parts.pop()), "-o", "beginning", "-e", "-q", "-f", "%k\n"],
                                 capture_output=True, text=True, timeout=30, check=True).stdout
            self.assertEqual(len(out.splitlines()), 3)


if __name__ == "__main__":
    unittest.main(verbosity=2)
