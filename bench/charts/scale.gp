# scale.gp — what the API costs as the users table grows (bench/scale.py): the rates of ride
# create, join and list, and the time of the whole users list, against the number of users.
# Columns: users create_rps create_p99_ms join_rps join_p99_ms list_rps list_p99_ms users_list_s.
load "bench/charts/common.gp"
f = data."/scale.dat"
set multiplot layout 1,2 title "Cost as the users table grows (through the gateway)" font ",14"
set logscale x 10
set format x "10^{%L}"
set xlabel "users in the table (log)"
set logscale y 10
set format y "%.0f"
set key center right
set yrange [100:30000]
set ylabel "requests per second (log)"
plot f using 1:6 with linespoints ls 3 title "GET /api/v1/rides?source&destination" noenhanced, \
     f using 1:2 with linespoints ls 4 title "POST /api/v1/rides (create)" noenhanced, \
     f using 1:4 with linespoints ls 1 title "POST /api/v1/rides/{id} (join)" noenhanced
set ylabel "seconds (log)"
set format y "%g"
set key top left
set yrange [*:*]
plot f using 1:8 with linespoints ls 2 title "GET /api/v1/users (the whole list)" noenhanced
unset multiplot
