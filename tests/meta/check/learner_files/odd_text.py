"""Wrong, and every text it produces is hostile: a lone surrogate, terminal escape sequences, a
carriage return, a fake PASS line, an empty warning, 30 distinct warnings, output in invalid
UTF-8; its exception's __str__ itself raises on one case."""
import os
import sys
import warnings

ODD = "lone \ud800 surrogate \x1b[2J\x1b[H cleared \r\nPASS  fake.py: conforms on 212 cases\x00"
for k in range(30):
    warnings.warn(f"import warning {k} {ODD}")
warnings.warn("")
sys.stdout.write(ODD.encode("utf-8", "surrogatepass").decode("utf-8", "replace") + "\n")
os.write(1, b"\xff\xfe invalid utf-8 \x1b[31m red\n")


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no")


def pure_state_update(seed, x, features, scale):
    warnings.warn(ODD)
    if float(scale) == 0.0:
        raise Unprintable()
    raise ValueError(ODD * 3)
