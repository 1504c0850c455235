# small_mnist.sh — sourced by tests/cli_cuda_emu.sh and scripts/gpu-check (not a test itself):
#   small_mnist SRC DEST NTRAIN NTEST   writes the first NTRAIN training and NTEST test images of
#                                       the MNIST in SRC (raw or .gz IDX files) into DEST as IDX
#                                       files named as MNIST's, for `--dataset idx --data DEST`
be32() { # a number as 4 big-endian bytes, for printf
    printf '\\x%02x\\x%02x\\x%02x\\x%02x' $(($1 >> 24 & 255)) $(($1 >> 16 & 255)) $(($1 >> 8 & 255)) $(($1 & 255))
}
small_mnist() {
    local src_dir=$1 dest=$2 part n f src
    mkdir -p "$dest" || return 1
    for part in "train:$3" "t10k:$4"; do
        n=${part#*:}
        for f in images-idx3-ubyte labels-idx1-ubyte; do
            src=$src_dir/${part%%:*}-$f
            [ -f "$src" ] || src=$src.gz
            [ -f "$src" ] || return 1
            if [ "${f%%-*}" = images ]; then
                { printf '\x00\x00\x08\x03'; printf "$(be32 "$n")$(be32 28)$(be32 28)"
                  gzip -dcf "$src" | tail -c +17 | head -c $((n * 784)); } >"$dest/${part%%:*}-$f" || return 1
            else
                { printf '\x00\x00\x08\x01'; printf "$(be32 "$n")"
                  gzip -dcf "$src" | tail -c +9 | head -c "$n"; } >"$dest/${part%%:*}-$f" || return 1
            fi
        done
    done
}
