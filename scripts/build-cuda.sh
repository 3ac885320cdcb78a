#!/usr/bin/env bash
# Builds xcluster with `--features cuda` (release) and prints the binary's path.
#
#   bash scripts/build-cuda.sh                  burn's CUDA backend downloads an LLVM bundle from GitHub
#   bash scripts/build-cuda.sh --without-llvm   where GitHub cannot be reached
#
# Why --without-llvm works: cubecl-cuda always links cubecl-llvm (its second way to compile kernels,
# through LLVM to PTX), but the `cuda` feature turns on cubecl's `cuda-cpp`, so every kernel goes
# through NVRTC and LLVM is never called. DOCS_RS=1 makes the build scripts of cubecl-llvm and
# tracel-llvm-bundler skip the download; a first link leaves LLVM's symbols undefined, and the final
# link fills each one with a stub that aborts naming it (none ever ran in scripts/gpu-check.sh).
# Where nvcc is absent, set CUDARC_CUDA_VERSION to the GPU machine's CUDA version (13000 for 13.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/xcluster
build() { cargo rustc --locked --release --features cuda --bin xcluster "$@" >&2; }
case "${1:-}" in
  "") build ;;
  --without-llvm)
    export DOCS_RS=1
    stubs="$(mktemp -d)"
    trap 'rm -rf "$stubs"' EXIT
    build -- -C link-arg=-Wl,--unresolved-symbols=ignore-all
    nm -D --undefined-only "$bin" | awk '{print $NF}' | grep -E '^(LLVM|cubecl_)' | sort -u |
      awk 'BEGIN { print "#include <stdio.h>\n#include <stdlib.h>";
                   print "static void none(const char *f) { fprintf(stderr, \"xcluster: %s: built without LLVM (scripts/build-cuda.sh)\\n\", f); abort(); }" }
           { printf "void %s(void) { none(\"%s\"); }\n", $1, $1 }' >"$stubs/llvm.c"
    echo "build-cuda: $(grep -c '^void' "$stubs/llvm.c") LLVM functions stubbed" >&2
    cc -O1 -c "$stubs/llvm.c" -o "$stubs/llvm.o"
    build -- -C link-arg="$stubs/llvm.o"
    ;;
  *) echo "build-cuda: unknown argument $1 (use --without-llvm or nothing)" >&2; exit 2 ;;
esac
echo "$bin"
