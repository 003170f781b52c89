#!/bin/sh
# Download the official CIFAR-10 and CIFAR-100 binary archives into DIR, check their md5 and
# extract them, giving DIR/cifar-10-batches-bin/ and DIR/cifar-100-binary/ (the layout
# src/data/cifar.c reads). Needs the internet, curl or wget, md5sum (or md5) and tar.
# Idempotent: an archive already present with the right md5 is not downloaded again.
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
        curl -fL --retry 3 -o "$2" "$1"
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
        download "$BASE/$name" "$archive.part"
        mv "$archive.part" "$archive"
    fi
    got=$(md5_of "$archive")
    if [ "$got" != "$want" ]; then
        rm -f "$archive"
        echo "get-data.sh: $archive: md5 $got, expected $want (corrupt or truncated download; removed it, run again)" >&2
        exit 1
    fi
    tar -xzf "$archive" -C "$DIR"
    if [ ! -f "$DIR/$out/$check" ]; then
        echo "get-data.sh: $archive did not contain $out/$check" >&2
        exit 1
    fi
    echo "$out: ok"
}

fetch cifar-10-binary.tar.gz c32a1d4ab5d03f1284b67883e8d87530 cifar-10-batches-bin test_batch.bin
fetch cifar-100-binary.tar.gz 03b5dce01913d631647c71ecec9e9cb8 cifar-100-binary test.bin
