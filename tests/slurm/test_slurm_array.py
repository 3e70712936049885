#!/usr/bin/env python3
"""deploy/slurm on a real, throwaway, single-node Slurm cluster.

Starts slurmctld and slurmd (slurm-wlm) with a slurm.conf generated in a temporary folder (state, spool, logs,
pid files there; free loopback ports; auth/none, so no munge), waits for the node to be idle, then:
  (a) the encode array (4 tasks) over the test photos plus the merge job: the merged rows are a single
      `faceapp encode --jobs 1` run's over the same list (the same set of rows, the same text, so the same
      values bit for bit);
  (b) one array task killed midway (scancel --signal=KILL): no output of it; rerunning only that index and the
      merge then give the single run's rows again;
  (c) a shard with a non-image and a truncated photo: its .errors names both (stage and reason) and the
      other rows are there; the merge lists them too.
  (d) when the build has `faceapp-web import`: the merge job's optional gallery import.
Both daemons are stopped at the end, also on failure. Every wait is bounded.
"""
import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from slurm_cluster import Cluster, Failure


def read_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def check(condition, message):
    if not condition:
        raise Failure(message)
    print("ok:", message, flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--faceapp", required=True)
    ap.add_argument("--deploy", required=True, help="the deploy/slurm folder")
    ap.add_argument("--data", required=True, help="tests/data")
    ap.add_argument("--faceapp-web", default="")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args()
    for prog in ("slurmctld", "slurmd", "sbatch", "scontrol", "scancel", "sinfo", "squeue"):
        if shutil.which(prog) is None:
            raise Failure(f"{prog} not found: install slurm-wlm (cmake/install-deps.sh does)")

    started = time.monotonic()
    root = tempfile.mkdtemp(prefix="faceapp_slurm_")
    encode = os.path.join(args.deploy, "encode.sbatch")
    merge = os.path.join(args.deploy, "merge.sbatch")
    env = {"FACEAPP": args.faceapp}
    logs = os.path.join(root, "jobs")
    os.makedirs(logs)
    try:
        faces = os.path.join(args.data, "faces")
        photos = sorted(os.path.join(faces, f) for f in os.listdir(faces)
                        if os.path.splitext(f)[1].lower() in (".jpg", ".jpeg", ".png"))
        check(len(photos) >= 40, f"{len(photos)} test photos")
        photo_list = os.path.join(root, "photos.txt")
        with open(photo_list, "w") as f:
            f.write("".join(p + "\n" for p in photos))

        # The reference: one process, one worker, the same list.
        with open(photo_list) as stdin:
            single = subprocess.run([args.faceapp, "encode", "--jobs", "1", "-"], stdin=stdin, capture_output=True,
                                    text=True, timeout=600)
        check(single.returncode == 0, "faceapp encode --jobs 1 over the list: exit 0")
        reference = single.stdout.splitlines()
        check(len(reference) > len(photos) // 2, f"the single run has {len(reference)} rows")

        with Cluster(os.path.join(root, "cluster")) as cluster:
            # (a) the array and the merge, submitted together.
            out_a = os.path.join(root, "out_a")
            array = cluster.sbatch("--array=0-3", "--cpus-per-task=1", f"--output={logs}/a-%A_%a.out", encode,
                                   photo_list, out_a, env=env)
            merged_job = cluster.sbatch(f"--dependency=afterok:{array}", f"--output={logs}/a-merge-%j.out", merge,
                                        out_a)
            states = cluster.wait(array)
            check(sorted(states.values()) == ["COMPLETED"] * 4, f"(a) the 4 array tasks completed: {states}")
            check(cluster.wait(merged_job) == {merged_job: "COMPLETED"}, "(a) the merge job completed")
            merged = read_lines(os.path.join(out_a, "encodings.csv"))
            shards = [read_lines(os.path.join(out_a, f"shard-{k}-of-4.csv")) for k in range(4)]
            check(merged == sum(shards, []), "(a) the merge is the shards concatenated in shard order")
            check(sorted(merged) == sorted(reference),
                  f"(a) the merged rows are the single run's, bit for bit ({len(merged)} rows)")
            check(read_lines(os.path.join(out_a, "encodings.csv.errors")) == [], "(a) no photo failed")

            # (b) one task killed midway, then rerun alone.
            out_b = os.path.join(root, "out_b")
            array = cluster.sbatch("--array=0-3", "--cpus-per-task=1", f"--output={logs}/b-%A_%a.out", encode,
                                   photo_list, out_b, env=env)
            victim = 1
            partial = os.path.join(out_b, f"shard-{victim}-of-4.csv.tmp")
            deadline = time.monotonic() + 240
            shard = os.path.join(out_b, f"shard-{victim}-of-4.csv")
            while time.monotonic() < deadline and not os.path.exists(shard) and not (
                    os.path.exists(partial) and os.path.getsize(partial) > 0):
                time.sleep(0.02)
            check(os.path.exists(partial) and os.path.getsize(partial) > 0,
                  f"(b) task {victim} has written its first rows")
            cluster.run(["scancel", "--signal=KILL", f"{array}_{victim}"])
            states = cluster.wait(array)
            check(not os.path.exists(shard), f"(b) task {victim} was still running when killed")
            check(states[str(victim)] != "COMPLETED" and all(
                s == "COMPLETED" for k, s in states.items() if k != str(victim)),
                f"(b) task {victim} killed, the others completed: {states}")
            check(not os.path.exists(shard) and not os.path.exists(shard + ".errors"),
                  f"(b) no output of the killed task (only {os.path.basename(partial)})")
            # The merge refuses the incomplete set, naming the shard to rerun.
            refused = cluster.sbatch(f"--output={logs}/b-refused-%j.out", merge, out_b)
            check(cluster.wait(refused) == {refused: "FAILED"}, "(b) a merge of the incomplete set fails")
            refused_log = open(os.path.join(logs, f"b-refused-{refused}.out")).read()
            check(f"--array={victim}" in refused_log, "(b) ... and names the shard to rerun")
            rerun = cluster.sbatch(f"--array={victim}", "--cpus-per-task=1", f"--output={logs}/b-rerun-%A_%a.out",
                                   encode, photo_list, out_b, "4", env=env)
            merged_job = cluster.sbatch(f"--dependency=afterok:{rerun}", f"--output={logs}/b-merge-%j.out", merge,
                                        out_b)
            check(cluster.wait(rerun) == {str(victim): "COMPLETED"}, f"(b) the rerun of task {victim} completed")
            check(cluster.wait(merged_job) == {merged_job: "COMPLETED"}, "(b) the merge job completed")
            merged_b = read_lines(os.path.join(out_b, "encodings.csv"))
            check(merged_b == merged, "(b) the merge equals the uninterrupted one, so the single run's")

            # (c) bad inputs in a shard.
            bad_dir = os.path.join(root, "bad")
            os.makedirs(bad_dir)
            not_image = os.path.join(bad_dir, "notes.jpg")
            with open(not_image, "w") as f:
                f.write("these are not the bytes of an image\n")
            truncated = os.path.join(bad_dir, "truncated.jpg")
            with open(os.path.join(faces, "obama_1.jpg"), "rb") as f:
                data = f.read()
            with open(truncated, "wb") as f:
                f.write(data[: len(data) // 2])
            good = [os.path.join(faces, n) for n in ("obama_1.jpg", "biden_1.jpg", "group_1.jpg", "amy_1.png")]
            # Positions 0 and 2 (shard 0 of 2) are the bad ones.
            list_c = [not_image, good[0], truncated, good[1], good[2], good[3]]
            list_c_file = os.path.join(root, "with_bad.txt")
            with open(list_c_file, "w") as f:
                f.write("".join(p + "\n" for p in list_c))
            out_c = os.path.join(root, "out_c")
            array = cluster.sbatch("--array=0-1", "--cpus-per-task=1", f"--output={logs}/c-%A_%a.out", encode,
                                   list_c_file, out_c, env=env)
            merged_job = cluster.sbatch(f"--dependency=afterok:{array}", f"--output={logs}/c-merge-%j.out", merge,
                                        out_c)
            check(sorted(cluster.wait(array).values()) == ["COMPLETED"] * 2,
                  "(c) both tasks completed: bad photos do not fail a task")
            check(cluster.wait(merged_job) == {merged_job: "COMPLETED"}, "(c) the merge job completed")
            errors = list(csv.reader(open(os.path.join(out_c, "shard-0-of-2.csv.errors"))))
            check([e[0] for e in errors] == [not_image, truncated], "(c) shard 0's .errors names the two bad files")
            check([e[1] for e in errors] == ["read", "read"], "(c) ... the stage that refused them")
            check("not an image" in errors[0][2] and "truncated" in errors[1][2],
                  f"(c) ... and why: {[e[2] for e in errors]}")
            check(read_lines(os.path.join(out_c, "shard-1-of-2.csv.errors")) == [], "(c) shard 1 has no errors")
            expected = [r for r in reference if r.split(",", 1)[0] in set(good)]
            check(sorted(read_lines(os.path.join(out_c, "encodings.csv"))) == sorted(expected),
                  "(c) the good photos' rows are all there, the single run's")
            check(list(csv.reader(open(os.path.join(out_c, "encodings.csv.errors")))) == errors,
                  "(c) the merged .errors lists them")

            # (d) merge.sbatch's optional gallery import, through this build's faceapp-web (built with the tests).
            web = args.faceapp_web
            check(bool(web) and os.path.exists(web), f"(d) a faceapp-web to import with: {web!r}")
            sub = subprocess.run([web, "import", "--help"], capture_output=True, text=True, timeout=60)
            check(sub.returncode == 0 and "--data" in sub.stdout, "(d) faceapp-web has its import subcommand")
            web_data = os.path.join(root, "web_data")
            os.makedirs(web_data)
            job = cluster.sbatch(f"--output={logs}/d-merge-%j.out", merge, out_a, web_data,
                                 env={"FACEAPP_WEB": web})
            check(cluster.wait(job) == {job: "COMPLETED"}, "(d) the merge with a gallery import completed")
            gallery = list(csv.reader(open(os.path.join(out_a, "gallery.csv"))))
            firsts = [r for r in csv.reader(reference) if r[1] == "0"]
            check(len(gallery) == 1 + len(firsts), f"(d) {len(firsts)} photos' first faces enrolled")
            exported = subprocess.run([web, "export", "--data", web_data], capture_output=True, text=True, timeout=120)
            check(exported.returncode == 0, f"(d) faceapp-web export: {exported.stderr}")
            names = sorted(r[0] for r in list(csv.reader(exported.stdout.splitlines()))[1:])
            check(names == sorted(r[0] for r in gallery[1:]), "(d) the gallery holds exactly the enrolled names")
        print(f"all checks passed in {time.monotonic() - started:.0f} s", flush=True)
        return 0
    except Failure as e:
        print(f"FAILED: {e}\n(job logs and the cluster's logs: {root})", file=sys.stderr, flush=True)
        args.keep = True
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
