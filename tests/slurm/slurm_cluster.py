"""A throwaway single-node Slurm cluster (slurm-wlm) in a folder of its own, for tests and benches.

    with Cluster(folder) as cluster:
        job = cluster.sbatch("--array=0-3", "script.sbatch", "arg")
        states = cluster.wait(job)

slurmctld and slurmd run in the foreground of child processes with a slurm.conf generated in the folder
(state, spool, logs and pid files there too; free loopback ports; AuthType=auth/none and CredType=cred/none, so
no munge; proctrack/linuxproc and task/none, so no cgroups: it runs in a container, as root or as the user
that starts it). Jobs and daemons are stopped when the block ends, also on an exception.
"""
import getpass
import os
import re
import signal
import socket
import subprocess
import time

FINAL_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
                "BOOT_FAIL", "DEADLINE"}


class Failure(Exception):
    pass


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """slurmctld + slurmd in `root`, for as long as the `with` block runs."""

    def __init__(self, root):
        self.root = root
        self.conf = os.path.join(root, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)
        self.daemons = []

    def write_conf(self):
        for d in ("state", "spool", "log"):
            os.makedirs(os.path.join(self.root, d), exist_ok=True)
        r = self.root
        ctld_port, d_port = free_port(), free_port()
        while d_port == ctld_port:
            d_port = free_port()
        conf = f"""\
ClusterName=faceapp-test
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={d_port}
SlurmUser={getpass.getuser()}
SlurmdUser={getpass.getuser()}
AuthType=auth/none
CredType=cred/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldPidFile={r}/slurmctld.pid
SlurmdPidFile={r}/slurmd.pid
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""
        with open(self.conf, "w") as f:
            f.write(conf)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def start(self):
        self.write_conf()
        logs = os.path.join(self.root, "log")
        for cmd in (["slurmctld", "-D"], ["slurmd", "-D", "-N", "localhost"]):
            out = open(os.path.join(logs, cmd[0] + ".stderr"), "w")
            self.daemons.append(subprocess.Popen(cmd, env=self.env, stdout=out, stderr=subprocess.STDOUT))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for p in self.daemons:
                if p.poll() is not None:
                    raise Failure(f"{p.args[0]} exited with {p.returncode}: see {logs}")
            state = self.run(["sinfo", "-h", "-o", "%T"], check_status=False).stdout.strip()
            if state == "idle":
                print("ok: the node is idle", flush=True)
                return self
            time.sleep(0.5)
        raise Failure(f"the node did not become idle within 60 s (sinfo: {state!r}); logs in {logs}")

    def __exit__(self, *exc):
        # Jobs first (their processes belong to neither daemon), then the daemons: TERM, then KILL.
        self.run(["scancel", "--user", getpass.getuser()], check_status=False)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and self.run(["squeue", "-h"], check_status=False).stdout.strip():
            time.sleep(0.5)
        for p in reversed(self.daemons):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in reversed(self.daemons):
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return False

    def run(self, cmd, check_status=True, **kw):
        r = subprocess.run(cmd, env=self.env, capture_output=True, text=True, timeout=60, **kw)
        if check_status and r.returncode != 0:
            raise Failure(f"{' '.join(cmd)} exited with {r.returncode}: {r.stderr.strip()}")
        return r

    def sbatch(self, *args, env=None):
        cmd = ["sbatch", "--parsable"] + list(args)
        r = subprocess.run(cmd, env=dict(self.env, **(env or {})), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise Failure(f"{' '.join(cmd)}: {r.stderr.strip()}")
        return r.stdout.strip().split(";")[0]

    def states(self, job):
        """{task (or job) id: state} of a job or job array, from slurmctld's memory (no accounting here)."""
        out = self.run(["scontrol", "-o", "show", "job", job]).stdout
        states = {}
        for line in out.splitlines():
            fields = dict(re.findall(r"(\w+)=(\S*)", line))
            states[fields.get("ArrayTaskId", fields["JobId"])] = fields["JobState"]
        return states

    def wait(self, job, timeout=300, poll=0.5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self.states(job)
            if states and all(s in FINAL_STATES for s in states.values()):
                return states
            time.sleep(poll)
        raise Failure(f"job {job} not done within {timeout} s: {self.states(job)}")
