"""kcat, the Kafka command-line client, against xo-kafka-dev: metadata lists the contract's
topics, and messages produced with kcat are consumed back with kcat unchanged."""
import subprocess
import unittest

import harness


class KcatAgainstKafkaDev(unittest.TestCase):
    def test_metadata_lists_contract_topics(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=3, partitions=6)
            out = subprocess.run(["kcat", "-L", "-b", k.bootstrap], capture_output=True,
                                 text=True, timeout=30, check=True).stdout
            for topic in ("xo.objects", "xo.agents", "xo.commands", "xo.results"):
                self.assertIn(f'topic "{topic}" with 6 partitions', out)
            self.assertIn("3 brokers", out)

    def test_produce_and_consume_with_kcat(self):
        with harness.Stack() as st:
            k = st.start_kafka(brokers=1, partitions=3)
            lines = [f"key-{i}\tvalue {i} \u00e9" for i in range(200)]
            subprocess.run(["kcat", "-P", "-b", k.bootstrap, "-t", "xo.results", "-p", "2",
                            "-K", "\t", "-H", "h1=v1"],
                           input="\n".join(lines) + "\n", text=True, timeout=30, check=True)
            msgs = harness.kcat_read(k.bootstrap, "xo.results")
            self.assertEqual(len(msgs), 200)
            for i, (key, value, headers) in enumerate(msgs):
                self.assertEqual(key, f"key-{i}")
                self.assertEqual(value.decode(), f"value {i} \u00e9")
                self.assertEqual(headers, {"h1": "v1"})


if __name__ == "__main__":
    unittest.main(verbosity=2)
