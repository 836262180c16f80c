#!/usr/bin/env bash
# Rebuilds the CUDA kernels into the resource the Java backend loads: a fatbin with sm_90a SASS
# (Hopper, with the wgmma prefill GEMM of prefill_wgmma.cuh) and compute_90 PTX (newer GPUs JIT
# it; there the wgmma kernels trap and CudaPrefill uses the mma.sync GEMM), compressed for size
# (the driver inflates it when it loads the module: 0.7 MB instead of 2.6 MB in the repository and
# in what travels to the GPU machine). Run after editing the .cu / .cuh files; commit the output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../resources/io/triforce/engine/cuda"
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
mkdir -p "$out"
"$nvcc" -O3 -std=c++17 -fatbin \
  -gencode=arch=compute_90a,code=sm_90a -gencode=arch=compute_90,code=compute_90 --compress-mode=size \
  -Xptxas -v -o "$out/triforce.fatbin" "$here/triforce.cu"
echo "wrote $out/triforce.fatbin"
