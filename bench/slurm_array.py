#!/usr/bin/env python3
"""The cost of running `faceapp encode` as a Slurm job array instead of one process.

    bench/slurm_array.py BUILD_DIR/examples/cli/faceapp [FACES_DIR] [RUNS]

On a throwaway single-node cluster (tests/slurm/slurm_cluster.py: slurm-wlm, 2 CPUs, started and stopped
here) it times, RUNS times each, taking turns:
  - one process:  faceapp encode --jobs 2 - < LIST
  - the array:    sbatch --array=0-1 --cpus-per-task=1 deploy/slurm/encode.sbatch LIST OUT, from submission
                  until both tasks have ended (scheduling, start-up, model loading twice, the work)
over every photo of FACES_DIR (default: tests/data/faces), and prints the best wall and CPU times, their ratios,
photos per core-hour and CPU-hours per million photos. Run it on an otherwise idle machine with two cores or
more; on a busy one the CPU times still say what a photo costs.
"""
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "slurm"))
from slurm_cluster import Cluster  # noqa: E402


def main():
    if len(sys.argv) < 2 or not os.access(sys.argv[1], os.X_OK):
        print(__doc__, file=sys.stderr)
        return 2
    program = os.path.abspath(sys.argv[1])
    faces = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.environ.get("FACEAPP_TEST_DATA", os.path.join(here, "..", "tests", "data")), "faces")
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    encode = os.path.join(here, "..", "deploy", "slurm", "encode.sbatch")
    photos = sorted(os.path.join(faces, f) for f in os.listdir(faces)
                    if os.path.splitext(f)[1].lower() in (".jpg", ".jpeg", ".png"))
    load_before = os.getloadavg()[0]
    root = tempfile.mkdtemp(prefix="faceapp_bench_slurm_")
    try:
        photo_list = os.path.join(root, "photos.txt")
        with open(photo_list, "w") as f:
            f.write("".join(p + "\n" for p in photos))
        subprocess.run([program, "encode", "--jobs", "2", photos[0]], check=True, capture_output=True)  # warm up

        def cpu_of_children():
            r = resource.getrusage(resource.RUSAGE_CHILDREN)
            return r.ru_utime + r.ru_stime

        def one_process():
            start, cpu = time.monotonic(), cpu_of_children()
            with open(photo_list) as stdin:
                subprocess.run([program, "encode", "--jobs", "2", "-"], stdin=stdin, stdout=subprocess.DEVNULL,
                               check=True)
            return time.monotonic() - start, cpu_of_children() - cpu

        # The array's tasks are not our children: a wrapper in place of the program notes each one's CPU time.
        cpu_dir = os.path.join(root, "cpu")
        os.makedirs(cpu_dir)
        wrapper = os.path.join(root, "faceapp")
        with open(wrapper, "w") as f:
            f.write(f"""#!/bin/bash
"{program}" "$@"; status=$?
times > "{cpu_dir}/$SLURM_JOB_ID"  # its second line: the children's user and system time
exit $status
""")
        os.chmod(wrapper, 0o755)

        def seconds(text):  # bash's `times`: 0m1.234s
            m, s = text.rstrip("s").split("m")
            return 60 * float(m) + float(s)

        with Cluster(os.path.join(root, "cluster")) as cluster:

            def array(i):
                out = os.path.join(root, f"out{i}")
                start = time.monotonic()
                job = cluster.sbatch("--array=0-1", "--cpus-per-task=1", f"--output={root}/enc-%A_%a.out", encode,
                                     photo_list, out, env={"FACEAPP": wrapper})
                states = cluster.wait(job, poll=0.05)
                elapsed = time.monotonic() - start
                assert sorted(states.values()) == ["COMPLETED"] * 2, states
                cpu = 0.0
                for name in os.listdir(cpu_dir):
                    user, system = open(os.path.join(cpu_dir, name)).read().splitlines()[-1].split()
                    cpu += seconds(user) + seconds(system)
                    os.remove(os.path.join(cpu_dir, name))
                return elapsed, cpu

            t_process, t_array = [], []
            for i in range(runs):
                t_process.append(one_process())
                t_array.append(array(i))
                print(f"run {i + 1}: one process {t_process[-1][0]:.2f} s ({t_process[-1][1]:.1f} s CPU), "
                      f"array {t_array[-1][0]:.2f} s ({t_array[-1][1]:.1f} s CPU)", flush=True)

        cores = 2
        n = len(photos)
        print(f"\n{n} photos, best of {runs} runs, {cores} cores ({os.cpu_count()} online), "
              f"load average before: {load_before:.2f}, after: {os.getloadavg()[0]:.2f}")
        rows = []
        for name, runs_of in (("faceapp encode --jobs 2", t_process), ("array 2 tasks x 1 core", t_array)):
            wall = min(w for w, _ in runs_of)
            cpu = min(c for _, c in runs_of)
            rows.append((wall, cpu))
            print(f"{name:24s} wall {wall:7.2f} s  CPU {cpu:7.2f} s  "
                  f"{n * 3600 / (wall * cores):7.0f} photos per core-hour of wall time, "
                  f"{n * 3600 / cpu:7.0f} per CPU-hour")
        (wall_p, cpu_p), (wall_a, cpu_a) = rows
        print(f"array / one process: wall {wall_a / wall_p:.2f}, CPU {cpu_a / cpu_p:.2f}")
        print(f"CPU-hours per million photos: {1e6 * cpu_p / n / 3600:.1f} (one process), "
              f"{1e6 * cpu_a / n / 3600:.1f} (array)")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
