#!/usr/bin/env bash
# bench/timers.sh: 1 M timers start+stop, hinge's Timer against raw libev
# (`cargo bench -p hinge-bench --bench micro -- timers`), in ROUNDS
# interleaved rounds: each round measures both, one after the other, and
# the report gives the per-round ratios and their median, as issue 12 asks.
#
#   bench/timers.sh            # 5 rounds, about 3 minutes
#   ROUNDS=7 bench/timers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
cargo bench -q -p hinge-bench --bench micro --no-run 2>/dev/null
ratios=()
for r in $(seq 1 "$ROUNDS"); do
  out=$(cargo bench -q -p hinge-bench --bench micro -- timers 2>/dev/null)
  # Criterion prints "time: [low median high]" after each benchmark's name.
  read -r h l < <(echo "$out" | python3 -c '
import re, sys
text = sys.stdin.read()
def median(name):
    m = re.search(re.escape(name) + r"[^\n]*\n\s*time:\s*\[\S+ \S+ (\S+) (\S+)", text)
    v, unit = float(m.group(1)), m.group(2)
    return v * {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}[unit]
print(median("hinge Timer start+stop x1M"), median("libev-sys ev_timer_start+stop x1M"))
')
  ratio=$(python3 -c "print(f'{$h / $l:.3f}')")
  ratios+=("$ratio")
  echo "round $r: hinge $h ms, libev $l ms, ratio $ratio"
done
python3 -c "
import statistics, sys
r = [float(x) for x in sys.argv[1:]]
print(f'median ratio {statistics.median(r):.3f} (spread {min(r):.3f}-{max(r):.3f}) over {len(r)} rounds')
" "${ratios[@]}"
