#!/usr/bin/env bash
# Build llama-cpp-python for CUDA (sm_90) on a machine WITHOUT a GPU, for bench/gpu_offload.py on one.
# Needs nvcc (CUDA 13) here; cuBLAS comes from PyPI's nvidia-cublas wheel (only its files are used).
# Leaves .device/llama_cpp_cuda.tar.gz (the llama_cpp package, stripped, ~30 MB) for the GPU machine,
# where: tar xzf into a site folder, recreate the lib*.so / lib*.so.0 links, put the CUDA libraries
# on LD_LIBRARY_PATH. About 45 minutes on 2 cores.
set -euo pipefail
work=${WORK:-/tmp/llama-cuda}
mkdir -p "$work" .device
cd "$work"
pip download -q --no-deps --no-binary :all: llama-cpp-python==0.3.36 -d .
pip download -q --no-deps nvidia-cublas -d .
rm -rf src cublas && mkdir src cublas
tar xzf llama_cpp_python-0.3.36.tar.gz -C src --strip-components=1
rm -rf src/vendor/llama.cpp/{models,docs,media,benches}
unzip -q -o nvidia_cublas-*.whl -d cublas
CUB=$work/cublas/nvidia/cu13
mkdir -p links && ln -sf "$CUB/lib/libcublas.so.13" links/libcublas.so && ln -sf "$CUB/lib/libcublasLt.so.13" links/libcublasLt.so
export CPATH=$CUB/include LIBRARY_PATH=$work/links:$CUB/lib LD_LIBRARY_PATH=$CUB/lib CMAKE_BUILD_PARALLEL_LEVEL=$(nproc)
export CUDACXX=${CUDACXX:-/usr/local/cuda/bin/nvcc}
# No driver library on a machine without a GPU: NO_VMM avoids linking it. Portable AVX2 CPU code.
export CMAKE_ARGS="-DGGML_CUDA=on -DGGML_CUDA_NO_VMM=ON -DCMAKE_CUDA_ARCHITECTURES=90 -DLLAVA_BUILD=OFF \
 -DGGML_CUDA_FA=OFF -DGGML_CUDA_NCCL=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
 -DGGML_F16C=ON -DCUDA_cublas_LIBRARY=$work/links/libcublas.so -DCUDA_cublasLt_LIBRARY=$work/links/libcublasLt.so \
 -DCMAKE_CUDA_FLAGS=-I$CUB/include"
pip wheel --no-deps -w wheel ./src
rm -rf pkg && mkdir pkg && unzip -q wheel/llama_cpp_python-*.whl 'llama_cpp/*' -d pkg
# The wheel holds each library three times (name, .so.0, .so.X.Y.Z): keep the versioned file only.
find pkg/llama_cpp/lib -name '*.so' -o -name '*.so.0' | xargs rm -f
strip --strip-unneeded pkg/llama_cpp/lib/*.so.*
cd - >/dev/null
tar czf .device/llama_cpp_cuda.tar.gz -C "$work/pkg" llama_cpp
