#!/usr/bin/env python3
"""Prints the ratio table of a bench/run.sh run from its JSON results (one file per benchmark binary).

Every figure is a ratio of two benchmarks of the same run, so that it means something on a shared machine.
"""
import glob
import json
import os
import re
import statistics
import sys


def load(out_dir):
    """{run name: {metric: value}}, the median over repetitions, and the context of each binary."""
    runs, contexts = {}, {}
    for path in sorted(glob.glob(os.path.join(out_dir, "bench_*.json"))):
        with open(path) as f:
            data = json.load(f)
        binary = os.path.splitext(os.path.basename(path))[0]
        contexts[binary] = data.get("context", {})
        samples = {}
        medians = {}
        for b in data.get("benchmarks", []):
            if b.get("error_occurred"):
                continue
            # "/repeats:9" and "/iterations:1" are how a benchmark was run, not which one
            name = re.sub(r"/(repeats|iterations):\d+", "", b.get("run_name", b["name"]))
            entry = {k: v for k, v in b.items() if isinstance(v, (int, float))}
            entry["label"] = b.get("label", "")
            entry["time_unit"] = b.get("time_unit", "ns")
            entry["binary"] = binary
            if b.get("run_type") == "aggregate":
                if b.get("aggregate_name") == "median":
                    medians[name] = entry
            else:
                samples.setdefault(name, []).append(entry)
        for name, entries in samples.items():
            if name in medians:
                continue
            merged = dict(entries[0])
            for key in entries[0]:
                if key not in ("label", "binary", "time_unit"):
                    merged[key] = statistics.median(e[key] for e in entries if key in e)
            medians[name] = merged
        # peak RSS is a high-water mark: the largest seen, not the median
        for name, entries in samples.items():
            if name in medians and "peak_rss_MB" in entries[0]:
                medians[name]["peak_rss_MB"] = max(e.get("peak_rss_MB", 0) for e in entries)
        runs.update(medians)
    numpy_result = None
    numpy_path = os.path.join(out_dir, "numpy_face_distance.json")
    if os.path.exists(numpy_path):
        with open(numpy_path) as f:
            numpy_result = json.load(f)
    return runs, contexts, numpy_result


def seconds(run):
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[run.get("time_unit", "ns")]
    return run["real_time"] * unit


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def gallery_scan_rows(get, row):
    """The gallery's compact, two-thread and many-queries scans against the float32 one-thread scan and the
    one- and two-core read bandwidth of the same run. A scan that streams its bytes faster than the machine
    reads them (with as many threads) is a measurement error, and the table says so."""
    read1 = get("BM_memory_read/1000000")
    read2 = get("BM_memory_read_2threads/1000000")
    if read2:
        row("memory read, 2 cores (BM_memory_read_2threads/1000000)", "%.1f GB/s%s" % (
            read2["bytes_per_second"] / 1e9,
            " (%.2fx one core)" % (read2["bytes_per_second"] / read1["bytes_per_second"]) if read1 else ""))
    base = get("BM_gallery_scan/1000000/0/1")
    names = {0: "float32", 1: "int8 + float32 re-score", 2: "float16 + float32 re-score"}
    for threads in (1, 2):
        for codes in (0, 1, 2):
            run = get("BM_gallery_scan/1000000/%d/%d" % (codes, threads))
            if not run or not base:
                continue
            read = read1 if threads == 1 else read2
            gbs = run["bytes_per_second"] / 1e9
            limit = ""
            if read:
                share = run["bytes_per_second"] / read["bytes_per_second"]
                limit = "; streams %.1f GB/s, %.0f%% of the %d-core read%s" % (
                    gbs, 100 * share, threads, " (**above it: a measurement error**)" if share > 1.05 else "")
            row("gallery nearest at 1M, %s, %d thread%s, vs float32 1 thread" % (
                names[codes], threads, "s" if threads > 1 else ""),
                "%.2fx (%.1f ms%s)" % (run["items_per_second"] / base["items_per_second"],
                                        seconds(run) * 1e3, limit))
    for n in (20000, 50000, 100000, 1000000):
        one, two = get("BM_gallery_scan/%d/0/1" % n), get("BM_gallery_scan/%d/0/2" % n)
        if one and two:
            row("two threads vs one, float32, N = %d (parallel_min_rows)" % n,
                "%.2fx (%.2f -> %.2f ms)" % (seconds(one) / seconds(two), seconds(one) * 1e3, seconds(two) * 1e3))
    wide, narrow = get("BM_compact_kernel_level/avx512/1000000/1"), get("BM_compact_kernel_level/avx2/1000000/1")
    if wide and narrow:
        row("int8 compact kernel alone at 1M, AVX-512 vs AVX2", "%.2fx by CPU time" % (
            narrow["cpu_time"] / wide["cpu_time"]))
    for codes, name in ((1, "int8"), (2, "float16")):
        for k in (1, 10):
            run = get("BM_rerank_candidates/1000000/%d/%d" % (codes, k))
            if run:
                row("rows re-scored in float32 a query, %s, k = %d, 1M rows (bound R = %.2g)" % (
                    name, k, run["residual"]), "%.1f" % run["candidates"])
    one_pass, each = get("BM_gallery_many/1000000/8/0"), get("BM_gallery_many/1000000/8/1")
    if one_pass and each:
        row("8 queries at 1M: one pass (nearest_each) vs one at a time",
            "%.2fx (%.0f -> %.0f ms)" % (seconds(each) / seconds(one_pass), seconds(each) * 1e3,
                                         seconds(one_pass) * 1e3))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else "."
    runs, contexts, numpy_result = load(out_dir)
    rows = []

    def get(name):
        return runs.get(name) or runs.get(name + "/real_time")

    def row(what, measured, target="", met=None):
        rows.append((what, measured, target, "" if met is None else ("yes" if met else "**no**")))

    read = get("BM_memory_read/1000000")
    scan = get("BM_distance_scan/1000000")
    if read:
        row("memory read, 1 core (BM_memory_read/1000000)", "%.1f GB/s" % (read["bytes_per_second"] / 1e9),
            "baseline")
    if read and scan:
        limit = read["bytes_per_second"] / 512
        r = scan["items_per_second"] / limit
        row("distance_scan/1M vs bandwidth limit (memory_read / 512 B)",
            "%.0f%% (%.1f M/s of %.1f M/s)" % (100 * r, scan["items_per_second"] / 1e6, limit / 1e6), ">= 80%",
            r >= 0.8)
    if scan and numpy_result:
        r = scan["items_per_second"] / numpy_result["items_per_second"]
        row("distance_scan/1M vs numpy face_distance (float64)",
            "%.1fx (numpy %.2f M/s)" % (r, numpy_result["items_per_second"] / 1e6), ">= 15x", r >= 15)
    naive = get("BM_distance_naive/1000000")
    if scan and naive:
        row("distance_scan/1M vs naive scalar loop", "%.1fx" % (scan["items_per_second"] / naive["items_per_second"]))
    for n in (1000, 100000):
        s, t = get("BM_distance_scan/%d" % n), get("BM_topk_scan/%d" % n)
        if s and t:
            row("top-k (k=10) vs scan, N = %d" % n, "%.0f%%" % (100 * t["items_per_second"] / s["items_per_second"]))
    topk = get("BM_topk_scan/1000000")
    if scan and topk:
        r = topk["items_per_second"] / scan["items_per_second"]
        row("top-k (k=10) vs scan, N = 1M", "%.0f%%" % (100 * r), ">= 90%", r >= 0.9)
    gallery_scan_rows(get, row)
    for name in sorted(runs):
        if name.startswith("BM_detect/"):
            image = name.split("/")[1]
            base = get("BM_detect_dlib/" + image)
            if base:
                r = seconds(base) / seconds(runs[name])
                row("detect speedup, %s (%s)" % (image, runs[name]["label"]),
                    "%.2fx (%.0f -> %.0f ms)" % (r, seconds(base) * 1e3, seconds(runs[name]) * 1e3), ">= 1.7x",
                    r >= 1.7)
                if "cpu_critical_ms" in runs[name] and "cpu_total_ms" in base:
                    c = base["cpu_total_ms"] / runs[name]["cpu_critical_ms"]
                    row("detect speedup by CPU time (dlib's CPU time / the parallel scan's busiest thread), %s"
                        % image, "%.2fx (%.0f -> %.0f ms; %.0f ms CPU in all)" %
                        (c, base["cpu_total_ms"], runs[name]["cpu_critical_ms"], runs[name]["cpu_total_ms"]))
    for lib, base, what in (("BM_encode_chip", "BM_encode_dlib_chip", "encode, 1 chip"),
                            ("BM_encode_batch/16", "BM_encode_dlib_batch/16", "encode, batch of 16")):
        a, b = get(lib), get(base)
        if a and b:
            r = a["items_per_second"] / b["items_per_second"]
            row("%s: chips/s vs dlib's network" % what,
                "%.2fx (%.1f vs %.1f chips/s)" % (r, a["items_per_second"], b["items_per_second"]), ">= 2x",
                r >= 2)
    a, b = get("BM_pipeline_image"), get("BM_pipeline_dlib_image")
    if a and b:
        row("pipeline read+detect+encode (%s) vs the same on dlib directly" % a["label"],
            "%.2fx (%.0f -> %.0f ms)" % (seconds(b) / seconds(a), seconds(b) * 1e3, seconds(a) * 1e3))
    mem = get("BM_gallery_memory/1000000")
    if mem:
        row("gallery of 1M named encodings, resident", "%.0f MB (%.0f B per entry)" %
            (mem["gallery_MB"], mem["bytes_per_entry"]), "<= 600 MB", mem["gallery_MB"] <= 600)
    peaks = {}
    for run in runs.values():
        if "peak_rss_MB" in run:
            peaks[run["binary"]] = max(peaks.get(run["binary"], 0), run["peak_rss_MB"])
    for binary in sorted(peaks):
        row("peak RSS, %s" % binary, "%.0f MB" % peaks[binary])

    ctx = next(iter(contexts.values()), {})
    print("Machine: %s, %s CPUs, %s; load average at start %s" % (
        cpu_model(), ctx.get("num_cpus", "?"), ctx.get("date", "?"),
        " ".join("%.1f" % x for x in ctx.get("load_avg", [])) or "?"))
    print()
    print("| ratio | measured | target | met |")
    print("|---|---|---|---|")
    for what, measured, target, met in rows:
        print("| %s | %s | %s | %s |" % (what, measured, target, met))


if __name__ == "__main__":
    main()
