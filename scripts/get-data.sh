#!/bin/sh
# Download the official CIFAR-10 and CIFAR-100 binary archives into DIR, check their md5 and
# extract them, giving DIR/cifar-10-batches-bin/ and DIR/cifar-100-binary/ (the layout
# src/data/cifar.c reads). Needs the internet, curl or wget, md5sum (or md5) and tar.
# Idempotent: an archive already present with the right md5 is not downloaded again.
# Without the internet, CIFAR-10 comes from a local copy instead, and the script says which:
# $DNAS_DATA (a folder holding cifar-10-batches-bin/, or the shared data's cifar10/ JPEG form)
# or ../shared/data beside the checkout, whose JPEG form decode.py turns into the binary format
# (slightly blurred pixels, official labels and order: ../shared/data/README.md).
# Usage: scripts/get-data.sh DIR
set -eu

if [ $# -ne 1 ]; then
    echo "usage: $0 DIR" >&2
    exit 2
fi
DIR=$1
BASE=${CIFAR_BASE_URL:-https://www.cs.toronto.edu/~kriz}  # override for a mirror

mkdir -p "$DIR"

md5_of() {
    if command -v md5sum >/dev/null 2>&1; then
        md5sum "$1" | cut -d' ' -f1
    elif command -v md5 >/dev/null 2>&1; then
        md5 -q "$1"
    else
        echo "get-data.sh: neither md5sum nor md5 found" >&2
        exit 1
    fi
}

download() {  # URL OUT
    if command -v curl >/dev/null 2>&1; then
        curl -fsSL --retry 3 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -O "$2" "$1"
    else
        echo "get-data.sh: neither curl nor wget found" >&2
        exit 1
    fi
}

# fetch NAME MD5 EXTRACTED_DIR CHECK_FILE
fetch() {
    name=$1 want=$2 out=$3 check=$4
    archive="$DIR/$name"
    if [ -f "$DIR/$out/$check" ] && [ -f "$archive" ] && [ "$(md5_of "$archive")" = "$want" ]; then
        echo "$out: already present"
        return 0
    fi
    if [ ! -f "$archive" ] || [ "$(md5_of "$archive")" != "$want" ]; then
        echo "downloading $BASE/$name"
        # download to a temporary name so an interrupted transfer never looks complete
        # (set -e does not act inside a tested call: every failure returns explicitly)
        if ! download "$BASE/$name" "$archive.part"; then
            rm -f "$archive.part"
            echo "get-data.sh: could not download $BASE/$name" >&2
            return 1
        fi
        mv "$archive.part" "$archive" || return 1
    fi
    got=$(md5_of "$archive")
    if [ "$got" != "$want" ]; then
        rm -f "$archive"
        echo "get-data.sh: $archive: md5 $got, expected $want (corrupt or truncated download; removed it, run again)" >&2
        return 1
    fi
    tar -xzf "$archive" -C "$DIR" || return 1
    if [ ! -f "$DIR/$out/$check" ]; then
        echo "get-data.sh: $archive did not contain $out/$check" >&2
        return 1
    fi
    echo "$out: ok"
}

# local_cifar10: CIFAR-10 from a local copy into DIR/cifar-10-batches-bin; 1 if none is found.
local_cifar10() {
    here=$(cd "$(dirname "$0")/.." && pwd)
    for src in "${DNAS_DATA:-}" "$here/../shared/data"; do
        [ -n "$src" ] || continue
        if [ -f "$src/cifar-10-batches-bin/test_batch.bin" ]; then
            mkdir -p "$DIR/cifar-10-batches-bin"
            cp "$src"/cifar-10-batches-bin/*.bin "$src"/cifar-10-batches-bin/*.txt "$DIR/cifar-10-batches-bin/" 2>/dev/null || true
            echo "cifar-10-batches-bin: copied from the local copy $src (no download)"
            return 0
        fi
        for d in "$src/cifar10" "$src"; do
            if [ -f "$d/decode.py" ]; then
                mkdir -p "$DIR/cifar-10-batches-bin"
                python3 "$d/decode.py" "$DIR/cifar-10-batches-bin"
                echo "cifar-10-batches-bin: decoded from the local JPEG copy $d (no download; see its README)"
                return 0
            fi
        done
    done
    return 1
}

if [ -f "$DIR/cifar-10-batches-bin/test_batch.bin" ] && [ ! -f "$DIR/cifar-10-binary.tar.gz" ]; then
    echo "cifar-10-batches-bin: already present (from a local copy)"
elif ! (fetch cifar-10-binary.tar.gz c32a1d4ab5d03f1284b67883e8d87530 cifar-10-batches-bin test_batch.bin); then
    echo "get-data.sh: the official CIFAR-10 archive could not be fetched; looking for a local copy" >&2
    local_cifar10 || { echo "get-data.sh: no local copy either (set DNAS_DATA, or put the shared data at ../shared/data)" >&2; exit 1; }
fi
if ! (fetch cifar-100-binary.tar.gz 03b5dce01913d631647c71ecec9e9cb8 cifar-100-binary test.bin); then
    echo "get-data.sh: CIFAR-100 could not be fetched (only needed for --dataset cifar100); going on without it" >&2
fi
