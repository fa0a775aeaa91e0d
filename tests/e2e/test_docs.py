"""Generated documentation matches the binaries: each daemon's settings table in docs/ is
exactly what `--print-config-docs` prints, so --help and the docs cannot drift."""
import os
import subprocess
import unittest

import harness


class GeneratedDocs(unittest.TestCase):
    def check(self, binary, doc):
        path = os.path.join(harness.src_dir(), "docs", doc)
        out = subprocess.run([harness.binary(binary), "--print-config-docs"], capture_output=True,
                             text=True, timeout=10, check=True).stdout
        with open(path) as f:
            text = f.read()
        table = text[text.index("| key |"):]
        self.assertEqual(table.strip(), out.strip(),
                         f"{doc} is stale: regenerate it with {binary} --print-config-docs")

    def test_agent_settings(self):
        self.check("xo-agent", "configuration-agent.md")

    def test_gateway_settings(self):
        self.check("xo-gateway", "configuration-gateway.md")


if __name__ == "__main__":
    unittest.main(verbosity=2)
