#!/usr/bin/env python3
"""face_recognition's face_distance on a gallery of 1 M encodings, the baseline BM_distance_scan is read against.

face_recognition keeps encodings as float64 numpy arrays and compares with
`np.linalg.norm(face_encodings - face_to_compare, axis=1)`; this times exactly that expression (on one stacked
array, its fastest form) and prints items/s, plus a JSON line for bench/run.sh.
"""
import argparse
import json
import statistics
import time

import numpy as np


def face_distance(face_encodings, face_to_compare):
    """face_recognition.api.face_distance, verbatim."""
    if len(face_encodings) == 0:
        return np.empty((0))
    return np.linalg.norm(face_encodings - face_to_compare, axis=1)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1_000_000, help="gallery size (default 1000000)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--json", help="also write the result to this file")
    args = parser.parse_args()

    rng = np.random.default_rng(42)
    encodings = rng.normal(0.0, 0.09, size=(args.n, 128))  # float64, as face_recognition holds them
    face = rng.normal(0.0, 0.09, size=128)
    face_distance(encodings, face)  # warm-up: page in the temporaries

    times = []
    for _ in range(args.repetitions):
        start = time.perf_counter()
        d = face_distance(encodings, face)
        times.append(time.perf_counter() - start)
        assert d.shape == (args.n,)
    seconds = statistics.median(times)
    result = {"name": "numpy_face_distance/%d" % args.n, "n": args.n, "seconds": seconds,
              "items_per_second": args.n / seconds, "numpy": np.__version__}
    print("numpy face_distance, N = %d: %.1f ms, %.3g items/s (median of %d)"
          % (args.n, seconds * 1e3, args.n / seconds, args.repetitions))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(result, out)


if __name__ == "__main__":
    main()
