#!/usr/bin/env bash
# Rebuilds the CUDA kernels into the resource the Java backend loads: a fatbin with sm_90 SASS
# and compute_90 PTX (newer GPUs JIT the PTX), compressed for size (the driver inflates it when it
# loads the module: 0.65 MB instead of 2.5 MB in the repository and in what travels to the GPU
# machine). Run after editing triforce.cu; commit the output.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../resources/io/triforce/engine/cuda"
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
mkdir -p "$out"
"$nvcc" -O3 -std=c++17 -fatbin \
  -gencode=arch=compute_90,code=sm_90 -gencode=arch=compute_90,code=compute_90 --compress-mode=size \
  -Xptxas -v -o "$out/triforce.fatbin" "$here/triforce.cu"
echo "wrote $out/triforce.fatbin"
