#!/usr/bin/env bash
# The CLI's bench (AR against TriForce, the trained draft at level 1) on the trained target widened
# to a Llama-2-7B model's bytes a step: WidenedCheckpoint writes pycode-target-23m again at dim 4096,
# 64 heads of 64, 64 key/value heads, intermediate 11008 and 32 layers (6.5B parameters, 13 GB of
# bf16 in three shards), computing the same function, so TriForce meets the trained pair's
# acceptance at a 7B model's cost a step. Run on the device machine after stage-data.sh and pack.sh:
#   scripts/gpu/wide-bench.sh --context 7000 --new-tokens 512 --docs-limit 2 --modes ar,triforce --json
# TRIFORCE_YARN=F: positions stretched F times by YaRN (the trained pair has 8K; F = 4 gives 32K, a
# user's way past the trained context: past 8K unstretched the target's text is garbage).
# TRIFORCE_WIDE: where the widened checkpoint goes (written once; most of it holes: the added weights are zero).
set -euo pipefail
cd "$(dirname "$0")/../.."
yarn=${TRIFORCE_YARN:-1}
wide=${TRIFORCE_WIDE:-/tmp/pycode-target-wide-7b-yarn$yarn}
if [ ! -f "$wide/config.json" ]; then
  scripts/gpu/run-on-device.sh main io.triforce.engine.testing.WidenedCheckpoint \
    .device-data/models/pycode-target-23m "$wide" 4096 64 64 11008 32 3 "$yarn" >&2
fi
scripts/gpu/run-on-device.sh cli bench --backend cuda --draft-backend cuda --model "$wide" \
  --draft-model .device-data/models/pycode-draft-3.7m --docs .device-data/eval/dev_docs.jsonl "$@"
