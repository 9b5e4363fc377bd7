#!/usr/bin/env bash
# ci/deps.sh BUILD — the core's objects depend on each other one way only.
#
# The graph: one node per source file of src/ and hardening/ (the release
# and debug objects of BUILD/{release,debug}/obj, merged); an edge A -> B
# when A's object uses a global symbol B's object defines (nm). The check
# fails when the graph has a cycle and names it, with the symbols of each
# edge. The layers it keeps apart are listed in src/types.h ("Layers").
#
# One upward edge is allowed: the lazy call of hak_init, the composition
# root's (src/init.c) one entry, from the paths that may run before the
# constructor. An edge into init that uses any other symbol counts.
#
# It also fails when an object other than the drop-in names (dropin.c,
# dropin_cxx.cc) defines a global symbol without the hak_ prefix: the
# core's internal externs share the program's namespace in the archives'
# plain form (obj/libhakmem_internal.a).
#
# DEPS_VERBOSE=1 also prints every node's level (0: uses no other object;
# otherwise one more than the highest level it uses) and its edges.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}

objs=()
for f in release debug; do
    for o in "$build/$f"/obj/src/*.o "$build/$f"/obj/hardening/*.o; do
        [ -f "$o" ] || continue
        # dropin_so.o is dropin.c again (with --defsym's names): one node.
        [ "$(basename "$o")" = dropin_so.o ] && continue
        # An object whose source is gone is stale (a file moved away).
        src=${o#"$build/$f"/obj/}
        [ -f "${src%.o}.c" ] || [ -f "${src%.o}.cc" ] || continue
        objs+=("$o")
    done
done
[ ${#objs[@]} -gt 0 ] || { echo "deps: no objects under $build/{release,debug}/obj" >&2; exit 1; }

# One line per symbol: NODE DEF|USE NAME (nm -P: "name type value size").
for o in "${objs[@]}"; do
    node=${o#"$build"/*/obj/}
    node=${node%.o}
    nm -P "$o" | awk -v n="$node" '
        $2 == "U" || $2 == "w" || $2 == "v" { print n, "USE", $1; next }
        $2 ~ /^[A-Z]$/                      { print n, "DEF", $1 }'
done | sort -u | python3 -c '
import os, sys
from collections import defaultdict

ALLOWED = ("src/init", "hak_init")  # the one upward edge: node, symbol
defs, uses = {}, defaultdict(set)
nodes = set()
unprefixed = set()
for line in sys.stdin:
    node, kind, name = line.split()
    nodes.add(node)
    if kind == "DEF" and not name.startswith("hak_") and not node.startswith("src/dropin"):
        unprefixed.add((node, name))
    if kind == "DEF":
        defs.setdefault(name, node)
    else:
        uses[node].add(name)

edges = defaultdict(lambda: defaultdict(set))  # a -> b -> symbols
allowed = set()
for a, names in uses.items():
    for s in names:
        b = defs.get(s)
        if b is None or b == a:
            continue
        if (b, s) == ALLOWED:
            allowed.add(a)
            continue
        edges[a][b].add(s)

# Tarjan: strongly connected components; one of more than one node is a
# set of objects that depend on each other.
index, low, stack, on, sccs = {}, {}, [], set(), []
def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v); on.add(v)
    for w in sorted(edges[v]):
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        c = []
        while True:
            w = stack.pop(); on.discard(w); c.append(w)
            if w == v:
                break
        sccs.append(c)
sys.setrecursionlimit(10000)
for v in sorted(nodes):
    if v not in index:
        visit(v)

def cycle_in(comp):
    """A shortest cycle through the component'"'"'s first node (BFS)."""
    comp = set(comp)
    start = min(comp)
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(edges[v]):
            if w not in comp:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]

if unprefixed:
    for node, name in sorted(unprefixed):
        print("deps: %s defines %s without the hak_ prefix" % (node, name))
    sys.exit(1)

bad = [c for c in sccs if len(c) > 1]
if bad:
    for c in bad:
        cyc = cycle_in(c)
        print("deps: cycle: " + " -> ".join(cyc))
        for a, b in zip(cyc, cyc[1:]):
            print("  %s -> %s: %s" % (a, b, " ".join(sorted(edges[a][b]))))
        print("  (objects depending on each other: %s)" % " ".join(sorted(c)))
    sys.exit(1)

level = {}
def lvl(v):
    if v not in level:
        level[v] = 1 + max((lvl(w) for w in edges[v]), default=-1)
    return level[v]
for v in nodes:
    lvl(v)
nedges = sum(len(t) for t in edges.values())
print("deps: %d objects, %d edges, no cycle (%d levels; hak_init called lazily by %s)"
      % (len(nodes), nedges, 1 + max(level.values()), " ".join(sorted(allowed)) or "none"))
if os.environ.get("DEPS_VERBOSE") == "1":
    for v in sorted(nodes, key=lambda v: (level[v], v)):
        print("  %d %-22s -> %s" % (level[v], v, " ".join(sorted(edges[v])) or "-"))
'
