# scripts/gpu-env.sh — sourced by scripts/gpu-check and scripts/gpu-profile (not run itself): what
# both need to find their way on a GPU machine.
#   sources_hash          the sources a build comes from, as one hash (scripts/gpu-bundle records
#                         it in the bundle; gpu-check refuses a bundle of other sources)
#   cuda_libs PLUGIN      the folders of the CUDA libraries PLUGIN needs (and NCCL and cuDNN, loaded
#                         at run time) that ld.so does not know, searched for at most 30 s each
#   bundle_env            for gpu-bundle.tar.xz unpacked in .gpu-bundle/ (at least its plugin):
#                         BUILD, CT_BIN (the binary itself, for ncu and compute-sanitizer), and
#                         exported CTRAIN_CUDA_LIBS (read by the bundle's ctrain wrapper), CT_LIBS
#                         (LD_LIBRARY_PATH for ctest's programs and CT_BIN) and CTRAIN_DATA
sources_hash() {
  local d there=()
  for d in src include tools tests cmake CMakeLists.txt; do [ -e "$d" ] && there+=("$d"); done
  find "${there[@]}" -type f -not -path '*/__pycache__/*' |
    LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-16
}
cuda_libs() {
  { ldd "$1" 2>/dev/null | awk '/not found/ { print $1 }'; echo libnccl.so.2; echo libcudnn.so.9; } |
    sort -u |
    while read -r n; do
      ldconfig -p 2>/dev/null | grep -q "[[:space:]]$n " && continue
      timeout 30 find /usr/local /opt /usr/lib -maxdepth 10 -name "$n" 2>/dev/null | head -n 1 |
        xargs -r dirname
    done | sort -u | grep -v '^$' | paste -sd: -
}
bundle_env() {
  BUILD=.gpu-bundle/build
  CT_BIN=$BUILD/ctrain.bin
  CTRAIN_CUDA_LIBS=$(cuda_libs "$BUILD/libctrain_cuda.so")
  CT_LIBS="$PWD/.gpu-bundle/lib:$PWD/$BUILD${CTRAIN_CUDA_LIBS:+:$CTRAIN_CUDA_LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export CTRAIN_CUDA_LIBS CT_LIBS
  export CTRAIN_DATA=${CTRAIN_DATA:-$PWD/.gpu-bundle/data/mnist}
}
