# common.gp — what every chart of bench/charts.sh shares: an SVG on white, one font, a light grid.
# The including script has `out` (the SVG's path) and `data` (the data files' folder) set.
set terminal svg size 1000,440 dynamic enhanced font "DejaVu Sans,12" background rgb "white"
set output out
set grid lc rgb "#dddddd" lw 1
set border lc rgb "#555555"
set key opaque box lc rgb "#bbbbbb"
set style line 1 lc rgb "#1f77b4" lw 2 pt 7 ps 0.8
set style line 2 lc rgb "#d62728" lw 2 pt 5 ps 0.8
set style line 3 lc rgb "#2ca02c" lw 2 pt 9 ps 0.9
set style line 4 lc rgb "#9467bd" lw 2 pt 13 ps 0.9
# The first comment line of a data file, without its "# ": what the bench says of the run.
about(f) = system("sed -n '1s/^# //p' '" . f . "'")
