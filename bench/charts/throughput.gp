# throughput.gp — req/s and p99 latency against connections: the DB service's db/read and
# db/write (bench/run.sh, straight to the orchestrator) and the API's GET and POST rides
# (bench/api.sh, through the nginx gateway). Columns: conns req/s p50_ms p99_ms errors.
load "bench/charts/common.gp"
set terminal svg size 1000,500 dynamic enhanced font "DejaVu Sans,12" background rgb "white"
set output out
set multiplot layout 1,2 title "Throughput and p99 latency against connections (wrk on the same 2-core host)" font ",14" \
    margins 0.08,0.98,0.25,0.9 spacing 0.09
set logscale x 2
set xtics ("1" 1, "8" 8, "32" 32)
set xrange [0.8:40]
set xlabel "connections"
set logscale y 10
set format y "%.0f"
# One key for both panels, under them.
set key at screen 0.5, 0.08 center center vertical maxrows 2 width 2 samplen 3
set ylabel "requests per second (log)"
plot data."/db-read.dat" using 1:2 with linespoints ls 1 title "db/read (orchestrator)", \
     data."/db-write.dat" using 1:2 with linespoints ls 2 title "db/write (orchestrator)", \
     data."/api-get.dat" using 1:2 with linespoints ls 3 title "GET /api/v1/rides?source&destination" noenhanced, \
     data."/api-post.dat" using 1:2 with linespoints ls 4 title "POST /api/v1/rides" noenhanced
unset key
set ylabel "p99 latency, ms (log)"
set format y "%g"
plot data."/db-read.dat" using 1:4 with linespoints ls 1 title "db/read (orchestrator)", \
     data."/db-write.dat" using 1:4 with linespoints ls 2 title "db/write (orchestrator)", \
     data."/api-get.dat" using 1:4 with linespoints ls 3 title "GET /api/v1/rides?source&destination" noenhanced, \
     data."/api-post.dat" using 1:4 with linespoints ls 4 title "POST /api/v1/rides" noenhanced
unset multiplot
