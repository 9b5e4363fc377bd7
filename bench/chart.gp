# bench/chart.gp — ratio to a reference per workload, one bar per
# allocator. gnuplot -e "datafile='...'; outfile='...'" bench/chart.gp
# The reference is mimalloc (bench/run.sh); bench/external.sh sets
# reference='the best peer' (its ratios are oriented: above 1 is worse).
# The data file (bench/report.py) has a header row of allocator names and
# one row per workload; NaN where a cell failed.
if (!exists("datafile")) datafile = 'bench/results/chart.dat'
if (!exists("outfile")) outfile = 'bench/results/chart.png'
if (!exists("reference")) reference = 'mimalloc'
set terminal pngcairo size 1400,650 font ",10"
set output outfile
if (reference eq 'mimalloc') {
    set title "Wall time relative to mimalloc (medians; lower is better; log scale; no bar: every run failed or timed out)"
    set ylabel "time / mimalloc time"
} else {
    set title "Relative to ".reference." (medians of CPU time or throughput; above 1 is worse; log scale; no bar: every run failed)"
    set ylabel "ratio to ".reference
}
set logscale y
set yrange [0.1:*]
set grid ytics
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key outside right top vertical
set xtics rotate by -30 nomirror
set datafile missing "NaN"
ncol = system("head -n 1 '".datafile."' | wc -w") + 0
plot for [i=2:ncol] datafile using i:xtic(1) title columnheader(i), \
     1 with lines lc rgb "black" dt 2 notitle
