# gen_tree.awk — deterministic source-like trees for the git workload.
#
#   awk -v mode=init  -v seed=N -v nfiles=N -f gen_tree.awk
#       creates nfiles files (nested directories, sizes from a few bytes to
#       a few hundred KiB) under the current directory.
#   awk -v mode=modify -v seed=N -f gen_tree.awk FILELIST
#       rewrites about a fifth of the listed files (lines deleted, edited
#       and appended), adds new files under newdir/, and prints "rm PATH"
#       and "mv PATH NEWPATH" lines for the caller to apply with git.
#
# Park–Miller generator, exact in doubles: identical under mawk and gawk.

function rnd(n) { seed = (seed * 16807) % 2147483647; return seed % n }
function word() { return W[rnd(NW)] }
function line(   n, s, i) {
    n = 1 + rnd(14)
    s = word()
    for (i = 1; i < n; i++) s = s (rnd(9) ? " " : "_") word()
    if (rnd(6) == 0) s = "    " s ";"
    if (rnd(25) == 0) s = s " " rnd(1000000)
    return s
}
function size(  r) {
    r = rnd(100)
    if (r < 5) return rnd(40)
    if (r < 70) return 200 + rnd(4000)
    if (r < 96) return 4000 + rnd(28000)
    return 65536 + rnd(200000)
}
function write_file(path, bytes,   got, s) {
    got = 0
    while (got < bytes) {
        s = line()
        print s > path
        got += length(s) + 1
    }
    close(path)
}
function pick_path(i,   d, top, ext) {
    top = TOP[1 + rnd(NTOP)]
    d = top
    if (rnd(4)) d = d "/m" rnd(6)
    if (rnd(3) == 0) d = d "/deep" rnd(3) "/x" rnd(2)
    ext = EXT[1 + rnd(NEXT)]
    return d "/f" sprintf("%04d", i) ext
}
function dirname(p) { sub(/\/[^\/]*$/, "", p); return p }

BEGIN {
    if (seed == "") seed = 4242
    if (nfiles == "") nfiles = 320
    NW = split("alpha beta gamma delta epsilon zeta eta theta iota kappa " \
               "lambda mu nu xi omicron pi rho sigma tau upsilon phi chi psi " \
               "omega int char void return struct static const if else for " \
               "while size_t malloc free buffer length offset node tree hash " \
               "commit object index blob pack delta {} () [] == != -> ::", W0, " ")
    for (i = 1; i <= NW; i++) W[i - 1] = W0[i]
    NTOP = split("src lib docs tests data tools include", TOP, " ")
    NEXT = split(".c .h .txt .md .py .json .cfg", EXT, " ")
    if (mode == "init") {
        for (i = 1; i <= nfiles; i++) {
            P[i] = pick_path(i)
            D[dirname(P[i])] = 1
        }
        cmd = "mkdir -p"
        for (d in D) cmd = cmd " " d
        if (system(cmd) != 0) exit 1
        for (i = 1; i <= nfiles; i++) write_file(P[i], size())
        exit 0
    }
}

mode == "modify" {
    path = $0
    r = rnd(100)
    if (r < 3) { print "rm " path; next }
    if (r < 5) { print "mv " path " " path ".renamed"; next }
    if (r >= 25) next
    n = 0
    while ((getline l < path) > 0) L[++n] = l
    close(path)
    printf "" > path
    for (i = 1; i <= n; i++) {
        k = rnd(20)
        if (k == 0) continue                        # delete
        if (k == 1) { print line() > path; continue }   # replace
        print L[i] > path
        if (k == 2) print line() > path              # insert
    }
    for (i = rnd(30); i > 0; i--) print line() > path
    close(path)
    delete L
}

END {
    if (mode == "modify") {
        if (system("mkdir -p newdir/a newdir/b/c") != 0) exit 1
        for (i = 1; i <= 25; i++)
            write_file("newdir/" (i % 3 == 0 ? "b/c/" : (i % 2 ? "a/" : "")) "n" i ".txt", size())
    }
}
