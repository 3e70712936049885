"""Runs a program with the URL of a throwaway PostgreSQL cluster (tests/web/cluster.py) as its last argument, and
exits with its status: for C++ tests of the PostgreSQL store.

    python3 tests/web/with_postgres.py PROGRAM [ARGS...]"""

import subprocess
import sys

import cluster

if len(sys.argv) < 2:
    sys.exit(__doc__)
cluster.setup(sys.argv[1])
pg = None
try:
    pg = cluster.Postgres()
    pg.start()
    pg.psql("CREATE DATABASE faceapp", db="postgres")
    code = subprocess.run([cluster.SERVER[0], *sys.argv[2:], pg.url], timeout=300).returncode
finally:
    if pg:
        pg.stop()
    cluster.cleanup()
sys.exit(code)
