#!/usr/bin/env python3
"""Writes starting inputs for the libFuzzer harnesses into OUT/<harness>/ (default
build-fuzz/seeds). The committed corpora (tests/fuzz/corpus/) grew from these and were then
minimised with -merge=1; this script documents where they came from and can rebuild them.

Each input starts with the harness's mode byte (see the comment at the top of each
tests/fuzz/fuzz_<name>.c). Usage: python3 tests/fuzz/make_seeds.py [OUT]"""
import os
import struct
import sys

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


def arch(ops):
    s, e = "", 0
    for node in range(1, 4):
        s += ("+" if node > 1 else "") + "|"
        for j in range(node):
            s += "%s~%d|" % (OPS[ops[e]], j)
            e += 1
    return s


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 & -(c & 1))
    return c ^ 0xFFFFFFFF


def align(v, a):
    return (v + a - 1) // a * a


def checkpoint(kind, entries):
    """The checkpoint.h version 1 layout, as dnas_ckpt_write_commit lays it out."""
    kind = kind.encode()
    table = 48 + align(len(kind) + 1, 8)
    pos = table + sum(24 + align(len(n) + 1, 8) for n, _ in entries)
    data_start = align(pos, 64)
    offs, total = [], data_start
    for _, d in entries:
        offs.append(align(total, 64))
        total = offs[-1] + len(d)
    head = bytearray(data_start)
    head[0:8] = b"DNASCKPT"
    struct.pack_into("<IIQ", head, 8, 1, 0, total)
    struct.pack_into("<IIQ", head, 32, len(kind), len(entries), data_start)
    head[48:48 + len(kind)] = kind
    p = table
    for (name, d), off in zip(entries, offs):
        nb = name.encode()
        struct.pack_into("<QQII", head, p, off, len(d), len(nb), 0)
        head[p + 24:p + 24 + len(nb)] = nb
        p += 24 + align(len(nb) + 1, 8)
    body = bytearray(head)
    for (_, d), off in zip(entries, offs):
        body += bytes(off - len(body)) + d
    struct.pack_into("<I", body, 24, crc32c(bytes(body[32:])))
    struct.pack_into("<I", body, 28, crc32c(bytes(body[:28])))
    return bytes(body)


CONFIG = """space=nb201
algo=darts1
dataset=cifar10
data_dir=
out_dir=runs/a
table=
epochs=50
batch=64
channels=16
cells=5
track_bn=0
threads=0
image=32
seed=1
lr=0.025000000000000001
lr_min=0.001
momentum=0.90000000000000002
weight_decay=0.00050000000000000001
grad_clip=5
nesterov=1
arch_lr=0.00029999999999999997
arch_beta1=0.5
arch_beta2=0.999
arch_weight_decay=0.001
train_images=0
log_every=50
ckpt_every=0
progress=-1
max_steps=0
"""

HEADER = ("index,arch,c10valid_train_acc,c10valid_valid_acc,c10valid_test_acc,c10_test_acc,"
          "c100_train_acc,c100_valid_acc,c100_test_acc,in16_train_acc,in16_valid_acc,in16_test_acc,"
          "c100_test_acc_nats,in16_test_acc_nats,c10_flops_M,c10_params_M,c100_flops_M,c100_params_M,"
          "in16_flops_M,in16_params_M")


def safetensors(tensors, meta):
    """The safetensors.h layout as dnas_st_encode writes it: metadata, then tensors by name."""
    import json
    parts, off, data = [], 0, b""
    if meta:
        parts.append('"__metadata__":' + json.dumps(meta, separators=(",", ":")))
    for name, dtype, shape, d in sorted(tensors):
        parts.append('%s:{"dtype":"%s","shape":[%s],"data_offsets":[%d,%d]}' % (
            json.dumps(name), dtype, ",".join(map(str, shape)), off, off + len(d)))
        off += len(d)
        data += d
    h = ("{" + ",".join(parts) + "}").encode()
    h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + data


def synth_row(i):
    """Row i of the synthetic table in fuzz_table.c."""
    code = 7919 * i % 15625
    ops = [(code // 5 ** e) % 5 for e in range(6)]
    return "%d,%s" % (i, arch(ops)) + "".join(",%d.%d" % (i % 97, k) for k in range(18))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "build-fuzz/seeds"
    seeds = {}

    a = seeds.setdefault("arch", [])
    for ops in ([1] * 6, [3, 3, 3, 1, 3, 2], [3, 0, 3, 1, 0, 1], [0] * 6, [4, 2, 1, 2, 1, 1]):
        a.append(arch(ops).encode())
    a.append(b"|nor_conv_3x3~0|+|none~0|nor_conv_3x3~1|+|skip_connect~0|none~1|")
    a.append(b"|conv~0|+|none~0|none~2|+")
    a.append(bytes([1, 2, 3, 4, 0, 2, 96]) + b"|none~0|")

    c = seeds.setdefault("config", [])
    c.append(b"\x00" + CONFIG.encode())
    c.append(b"\x00space=nb201\nlr=0x1p-3\narch-lr=1e-3\nseed=18446744073709551615\nepochs=-7\n")
    c.append(b"\x00algo=darts2\r\ndata_dir=/tmp/x=y\nbogus=1\n")
    c.append(b"\x01out_dir\x00runs/x\x00lr\x000.1\x00seed\x00 42\x00threads\x004\x00")
    c.append(b"\x01data-dir\x00a\"b\\c\x00max_steps\x0010\x00")

    k = seeds.setdefault("checkpoint", [])
    u64 = lambda v: struct.pack("<Q", v)
    search = checkpoint("search/nb201", [
        ("config", CONFIG.encode()), ("epoch", u64(1)), ("step", u64(3)),
        ("total_steps", u64(20)), ("weights", struct.pack("<4f", 1, 2, 3, 4)),
        ("buffers", b""), ("alpha", struct.pack("<2f", 0.5, -0.5)), ("adam.t", u64(7)),
        ("log_bytes", u64(100)), ("alphas_bytes", u64(0))])
    k.append(b"\x00" + search)
    k.append(b"\x00" + checkpoint("nb201/darts1", [("a", b"x" * 70), ("b", u64(1))]))
    k.append(b"\x00" + checkpoint("k", []))
    k.append(b"\x01" + checkpoint("search/nb201", [("config", b"space=nb201\nalgo=darts2\n")]))
    k.append(b"\x01" + checkpoint("search/nb201", [("config", b"space=other\n")]))
    k.append(b"\x00DNASCKPT")

    f = seeds.setdefault("cifar", [])
    f.append(b"\x00" + bytes([3]) + bytes(range(256)) * 12)          # one CIFAR-10 record
    f.append(b"\x01" + bytes([7, 77]) + bytes(3072))                  # one CIFAR-100 record
    f.append(b"\x02" + bytes([9]) + bytes(range(256)) * 12 + bytes([10]))  # label 10: bad
    f.append(b"\x03" + bytes([19, 99]) + bytes(3072) + bytes([20, 0]))  # coarse 20: bad
    f.append(b"\x02" + bytes([1]) + bytes(3072) + bytes([5]) + bytes(3072))

    t = seeds.setdefault("table", [])
    rows = [synth_row(i) for i in range(4)]
    t.append(b"\x00" + (HEADER + "\n" + "\n".join(rows) + "\n").encode())
    t.append(b"\x00" + (HEADER + "\r\n").encode())
    t.append(b"\x01" + (HEADER + "\n" + "\n".join(rows[:2])).encode())      # accepted
    swapped = [rows[0].split(",", 2), rows[1].split(",", 2)]
    t.append(b"\x01" + (HEADER + "\n%s,%s,%s\n%s,%s,%s\n" % (
        swapped[0][0], swapped[1][1], swapped[0][2], swapped[1][0], swapped[0][1],
        swapped[1][2])).encode())                                                # accepted
    t.append(b"\x01" + (HEADER + "\n" + rows[1] + "\n" + rows[1] + "\n").encode())  # twice
    t.append(b"\x01" + ("arch,index" + HEADER[11:] + ",extra\n").encode())

    s = seeds.setdefault("safetensors", [])
    f32 = lambda *v: struct.pack("<%df" % len(v), *v)
    s.append(b"\x00" + safetensors([("w", "F32", [2, 2], f32(1, 2, 3, 4)),
                                      ("b", "I64", [], struct.pack("<q", -1))],
                                     {"genotype": "Genotype(normal=[])", "space": "darts"}))
    s.append(b"\x00" + safetensors([("x", "U8", [3, 0], b""), ("y", "F64", [1], struct.pack("<d", 0.5)),
                                      ("z", "I32", [1, 1, 1], struct.pack("<i", 7))], {}))
    s.append(b"\x00" + safetensors([], {}))
    # Header text, NUL, data (mode bit 0: the harness adds the length): accepted, then faults
    # the reader must name (overlap, hole, unknown key, escapes, duplicate, size mismatch).
    s.append(b"\x01" + b'{"__metadata__":{"k\\u00e9":"v\\n"},"a":{"dtype":"F32","shape":[1],'
             b'"data_offsets":[0,4]}}\x00' + f32(9))
    s.append(b"\x01" + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
             b'"b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\x00' + f32(1))
    s.append(b"\x01" + b'{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}\x00' + f32(1))
    s.append(b"\x01" + b'{"a":{"dtype":"U8","shape":[2],"data_offsets":[1,3],"x":1}}\x00abc')
    s.append(b"\x01" + b'{"a":{"shape":[],"dtype":"U8","data_offsets":[0,1]},"a":{}}\x00z')
    s.append(b"\x01" + b'{"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}\x00z')
    s.append(b"\x00" + struct.pack("<Q", 1 << 40) + b"{}")

    for name, items in seeds.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for i, data in enumerate(items):
            with open(os.path.join(d, "seed%02d" % i), "wb") as fp:
                fp.write(data)
    print("seeds in %s: %s" % (out, ", ".join("%s %d" % (n, len(v)) for n, v in seeds.items())))


if __name__ == "__main__":
    main()
