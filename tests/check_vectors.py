#!/usr/bin/env python3
"""Check docusnap's wire-protocol test vectors with another msgpack
implementation (Debian's python3-msgpack): each <name>.json, packed, must
give exactly the bytes of <name>.hex, and each .hex must unpack to its
.json. Exit 0 if all agree, 1 if not, 77 if python3-msgpack is missing.

Usage: check_vectors.py DIR
"""

import json
import os
import sys

try:
    import msgpack
except ImportError:
    print("SKIP: python3-msgpack is not installed")
    sys.exit(77)


def to_msgpack_value(value):
    """JSON meaning -> Python value: {"bin": hex} becomes bytes."""
    if isinstance(value, dict) and set(value) == {"bin"}:
        return bytes.fromhex(value["bin"])
    if isinstance(value, list):
        return [to_msgpack_value(item) for item in value]
    return value


def to_meaning(value):
    """Unpacked value -> JSON meaning."""
    if isinstance(value, bytes):
        return {"bin": value.hex()}
    if isinstance(value, list):
        return [to_meaning(item) for item in value]
    return value


def main():
    directory = sys.argv[1]
    names = sorted(name[:-4] for name in os.listdir(directory)
                   if name.endswith(".hex"))
    failures = 0
    for name in names:
        with open(os.path.join(directory, name + ".hex")) as hex_file:
            frame = bytes.fromhex(hex_file.read().strip())
        with open(os.path.join(directory, name + ".json")) as json_file:
            meaning = json.load(json_file)
        packed = msgpack.packb(to_msgpack_value(meaning), use_bin_type=True)
        if packed != frame:
            print("FAIL %s: packs to %s" % (name, packed.hex()))
            failures += 1
        unpacked = msgpack.unpackb(frame, raw=False)
        if to_meaning(unpacked) != meaning:
            print("FAIL %s: unpacks to %r" % (name, unpacked))
            failures += 1
    print("check_vectors: %d vectors, %d failures" % (len(names), failures))
    sys.exit(1 if failures or not names else 0)


if __name__ == "__main__":
    main()
