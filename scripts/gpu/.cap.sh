L="--context 7000 --new-tokens 512 --docs-limit 2 --modes ar,triforce --json"; S="--context 8000 --new-tokens 128 --docs-limit 3 --modes ar,triforce --json"; T="--temperature 0.8 --top-p 0.95"; C="--gamma 16 --gamma1 8"
while IFS='|' read -r l o; do t0=$(date +%s); r=$(timeout 60 bash scripts/gpu/wide-bench.sh $o 2>/dev/null | grep -o '"tokens_per_second":[0-9.]*' | head -2 | cut -d: -f2 | tr '\n' ' '); echo "$l: $r $(( $(date +%s)-t0 ))s"; done <<X
short-greedy-cap|$S $C
short-sampled-cap|$S $T $C
short-sampled-default|$S $T
long-sampled-cap|$L $T $C
long-sampled-default|$L $T
X
