"""The PostgreSQL change feed without the models: runs pg_feed_check (see its source) against a throwaway
PostgreSQL cluster. CI also runs it built with ThreadSanitizer and with AddressSanitizer + UndefinedBehaviorSanitizer.

    python3 tests/web/test_pg_feed.py PG_FEED_CHECK_EXECUTABLE"""

import subprocess
import sys

import cluster

if len(sys.argv) != 2:
    sys.exit(__doc__)
cluster.setup(sys.argv[1])
pg = None
try:
    pg = cluster.Postgres()
    pg.start()
    pg.psql("CREATE DATABASE faceapp", db="postgres")
    r = subprocess.run([cluster.SERVER[0], pg.url], timeout=300)
    code = r.returncode
finally:
    if pg:
        pg.stop()
    cluster.cleanup()
sys.exit(code)
