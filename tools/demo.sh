#!/usr/bin/env bash
# The main job: install what is missing, build both flavours, run a real
# program (an SQLite workload, then Python) under hakmem, show what it did.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install-deps.sh
make -j"$(nproc)" all >/dev/null
lib=build/release/libhakmem.so
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "== sqlite3 under hakmem (release), HAKMEM_STATS=1"
{
    echo "CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, payload BLOB);"
    echo "BEGIN;"
    for i in $(seq 1 20000); do
        echo "INSERT INTO t(name, payload) VALUES ('row$i', zeroblob($(( (i * 37) % 3000 ))));"
    done
    echo "COMMIT;"
    echo "CREATE INDEX t_name ON t(name);"
    echo "SELECT count(*), sum(length(payload)) FROM t;"
    echo "SELECT name FROM t ORDER BY length(payload) DESC, id LIMIT 3;"
} > "$work/load.sql"
HAKMEM_STATS=1 LD_PRELOAD=$PWD/$lib sqlite3 "$work/db" < "$work/load.sql"

echo
# The interpreter itself, not a wrapper script (pyenv's shim would run
# several processes, each with its own report).
py=$(python3 -c 'import sys; print(sys.executable)')
echo "== $py under hakmem (debug flavour: every check on), HAKMEM_STATS=1"
HAKMEM_STATS=1 PYTHONMALLOC=malloc LD_PRELOAD=$PWD/build/debug/libhakmem.so \
    "$py" -c 'import json, collections
d = {str(i): list(range(i % 50)) for i in range(20000)}
s = json.dumps(d)
print("json round trip:", json.loads(s) == d, len(s), "bytes")
print("most common lengths:", collections.Counter(len(v) for v in d.values()).most_common(2))'
