# failover.gp — writes acknowledged per 100 ms around a master crash (bench/failover.py, 8
# writers without pause), the typical round of each kind: the crash at 0, the gap until the new
# master acknowledges. Columns: seconds from the crash (bin start), writes acknowledged in the bin.
load "bench/charts/common.gp"
set terminal svg size 1000,600 dynamic enhanced font "DejaVu Sans,12" background rgb "white"
set output out
set multiplot layout 2,1 title "Acknowledged writes per 100 ms around a master crash (8 writers without pause)" font ",14"
set xrange [-2:6]
set xtics 1
set mxtics 10
set yrange [0:*]
set ylabel "writes / 100 ms"
set arrow 1 from 0, graph 0 to 0, graph 1 nohead lc rgb "#000000" dt 2 lw 1.5
set label 1 "crash" at 0.05, graph 0.92 tc rgb "#000000"
unset key
set style fill solid 0.6 noborder
a = data."/failover-crash.dat"
set title about(a) font ",10"
plot a using ($1 + 0.05):2:(0.1) with boxes fc rgb "#1f77b4"
b = data."/failover-sigkill.dat"
set title about(b) font ",10"
set xlabel "seconds from the crash (bins of 100 ms)"
plot b using ($1 + 0.05):2:(0.1) with boxes fc rgb "#d62728"
unset multiplot
