# Grouped bar chart of the benchmark (called by bench/tools/report.py):
#   gnuplot -e "datadir='DIR'; outfile='latest.png'; subtitle='...'" chart.gp
if (!exists("subtitle")) subtitle = ""
set terminal pngcairo size 1400,900 font "DejaVu Sans,10"
set output outfile
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top left font ",9"
set offsets 0, 0, graph 0.12, 0
set grid ytics
set yrange [0:*]
set xtics nomirror noenhanced
set key noenhanced
set linetype 1 lc rgb "#2a9d8f"
set linetype 2 lc rgb "#e9c46a"
set linetype 3 lc rgb "#e76f51"
set linetype 4 lc rgb "#8d99ae"
set multiplot layout 2,2 title "Sluice vs nginx vs HAProxy, one worker each (".subtitle.")" font ",12"

set title "Throughput (req/s, median; higher is better)"
set format y "%.0s%c"
plot for [i=2:5] datadir."/rps.dat" using i:xtic(1) title columnheader(i)

set title "Proxy CPU per request (µs; lower is better)"
set format y "%g"
plot for [i=2:4] datadir."/cpu.dat" using i:xtic(1) title columnheader(i)

set title "Instructions per proxied request (callgrind; lower is better)"
set format y "%.0s%c"
plot for [i=2:4] datadir."/ir.dat" using i:xtic(1) title columnheader(i)

set title "RSS per idle keep-alive connection (KiB; lower is better)"
set format y "%g"
plot for [i=2:4] datadir."/mem.dat" using i:xtic(1) title columnheader(i)

unset multiplot
