"""deploy/systemd/faceapp-web.service is sandboxed: `systemd-analyze security --offline=yes` (which reads the unit
file alone, no running systemd needed) rates its exposure 2.0 or less, and the unit keeps the settings that
matter here: no capabilities, a private umask, no core dumps, a memory ceiling, the system call filter, and the
key handed over as a credential. Fails, saying so, when systemd-analyze is missing."""

import os
import re
import shutil
import subprocess
import sys

UNIT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy", "systemd",
                    "faceapp-web.service")
MAX_EXPOSURE = 2.0

failed = []


def check(ok, what):
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        failed.append(what)
    return ok


analyze = shutil.which("systemd-analyze")
if check(analyze is not None, "systemd-analyze is installed (Debian's systemd package, cmake/install-deps.sh)"):
    p = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", os.path.abspath(UNIT)],
                       capture_output=True, text=True, timeout=120)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", p.stdout)
    check(m is not None, f"systemd-analyze rates the unit: {p.returncode} {(p.stdout + p.stderr)[-300:]!r}")
    if m:
        exposure = float(m.group(1))
        print(f"exposure {exposure}", flush=True)
        check(exposure <= MAX_EXPOSURE, f"exposure {exposure} <= {MAX_EXPOSURE}")
    # The threshold option agrees: 10 times the level, the same scale; a tighter one fails (so this can fail).
    at = subprocess.run([analyze, "security", "--offline=yes", f"--threshold={int(MAX_EXPOSURE * 10)}",
                         os.path.abspath(UNIT)], capture_output=True, timeout=120)
    check(at.returncode == 0, f"--threshold={int(MAX_EXPOSURE * 10)} passes: {at.returncode}")
    below = subprocess.run([analyze, "security", "--offline=yes", "--threshold=1", os.path.abspath(UNIT)],
                           capture_output=True, timeout=120)
    check(below.returncode != 0, f"--threshold=1 does not (the check can fail): {below.returncode}")

with open(UNIT) as f:
    settings = {}
    for line in f:
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            settings.setdefault(key, []).append(value)
for key, value in (("CapabilityBoundingSet", ""), ("UMask", "0077"), ("LimitCORE", "0"), ("PrivateDevices", "yes"),
                   ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("SystemCallFilter", "@system-service"),
                   ("LoadCredential", "api-key:/etc/faceapp/api-key")):
    check(value in settings.get(key, []), f"{key}={value}")
check(bool(settings.get("MemoryMax")), f"MemoryMax is set: {settings.get('MemoryMax')}")
exec_start = settings.get("ExecStart", [""])[0]
check("--api-key-file %d/api-key" in exec_start, "the server reads the key from the credential (%d)")
check(":" not in exec_start.split("--db ", 1)[1].split("@", 1)[0].split("//", 1)[1],
      "no password in --db")
sys.exit(1 if failed else 0)
