#!/usr/bin/env bash
# Copies the trained pair and the eval set from the shared directory ($TRIFORCE_SHARED, else
# ../shared) into .device-data (ignored by git), for the GPU tests and CLI benchmarks that need
# them on the device machine. Models and runtime together exceed what one device call carries,
# so a first call carries .device-data alone and the next calls, on the same warm machine, carry
# the rest: the machine keeps an ignored folder that a call does not name. run-on-device.sh points
# TRIFORCE_SHARED at .device-data when it is there.
set -euo pipefail
cd "$(dirname "$0")/../.."
shared=${TRIFORCE_SHARED:-../shared}
rm -rf .device-data
mkdir -p .device-data/models .device-data/eval
cp -r "$shared/models/pycode-target-23m" "$shared/models/pycode-draft-3.7m" .device-data/models/
cp "$shared/eval/reference_outputs.json" "$shared/eval/dev_docs.jsonl" .device-data/eval/
du -sh .device-data
