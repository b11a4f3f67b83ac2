#!/usr/bin/env bash
# Build llama-cpp-python with CUDA on a GPU machine that has nvcc and cuBLAS but no package index, then
# run bench/gpu_offload.py. Expects in .device/: the llama-cpp-python sdist trimmed of the vendored
# llama.cpp's models/, docs/, media/, benches/ and .git (llama-src-trim.tar.gz, ~12 MB) and wheels of
# what the machine lacks (diskcache, gguf). Writes logs to $OUT.
set -u
export PYTHONUNBUFFERED=1 PYTHONFAULTHANDLER=1
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .device/*.whl || exit 1
export PYTHONPATH=/tmp/site
HDR=$(dirname "$(find /usr/local /opt -name cublas_v2.h 2>/dev/null | head -1)")
LIB=$(dirname "$(find /usr/local /opt -name 'libcublas.so.*' 2>/dev/null | head -1)")
# FindCUDAToolkit wants unversioned names; the CUDA libraries here ship only versioned ones.
mkdir -p /tmp/cub && ln -sf "$LIB"/libcublas.so.[0-9]* /tmp/cub/libcublas.so && ln -sf "$LIB"/libcublasLt.so.[0-9]* /tmp/cub/libcublasLt.so
export LIBRARY_PATH="/tmp/cub:$LIB" LD_LIBRARY_PATH="$LIB:${LD_LIBRARY_PATH:-}" CPATH="$HDR"
mkdir -p /tmp/src && tar xzf .device/llama-src-trim.tar.gz -C /tmp/src
export CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
# sm_90 only and no flash-attention kernels: the build takes ~4 minutes on 16 cores instead of far more.
export CMAKE_ARGS="-DGGML_CUDA=on -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=OFF -DGGML_CUDA_FA=OFF \
 -DGGML_CUDA_NCCL=OFF -DCUDA_cublas_LIBRARY=/tmp/cub/libcublas.so -DCUDA_cublasLt_LIBRARY=/tmp/cub/libcublasLt.so \
 -DCMAKE_CUDA_FLAGS=-I$HDR"
python3 -m pip install --no-build-isolation --no-deps --no-index --target /tmp/site /tmp/src > "$OUT/build.log" 2>&1 \
  || { tail -40 "$OUT/build.log"; exit 1; }
echo "build done in $(( $(date +%s) - t0 )) s"
timeout 240 python3 bench/gpu_offload.py --out "$OUT/gpu_offload.json" 2>&1 | tee "$OUT/bench.log" | grep -v "^llama_\|^print_info\|^load"
