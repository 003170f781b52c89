/* dnas export DIR --to pytorch OUT: a trained network as a standalone PyTorch module.
 *
 * OUT/ gets model.py (only torch: the network's classes with the genotype baked in, build(),
 * load(), verify()), weights.safetensors (every weight and BN statistic under the module's own
 * state_dict() keys, which are our graph's parameter names: the builders name them after the
 * reference models), genotype.txt, and check.safetensors (a fixed batch of 8 inputs and our
 * eval-mode logits for them), so the export checks itself: `python3 -c 'import model;
 * model.verify()'` in OUT.
 *
 * Layout changes on the way out: our conv weights are OHWI (NHWC kernels), PyTorch's OIHW;
 * images NHWC vs NCHW; BN vectors and biases are (C,1,1,1) here, (C) there; linear weights are
 * (out, in) on both sides once the 1x1 spatial axes are dropped. PyTorch's BN also keeps a
 * num_batches_tracked counter we do not; it is written as the run's step count (it does not
 * enter the computation with a fixed momentum) so that the keys match state_dict() exactly.
 *
 * Nothing is written unless everything succeeded: the files go to a staging directory beside
 * OUT, which is renamed to OUT at the end (OUT may exist only as an empty directory). */
#include "safetensors.h"
#include "files.h"
#include "nb201_table.h"
#include "../core/alloc.h"
#include "../core/rng.h"
#include "../data/data.h"
#include "../graph/graph.h"
#include "../io/checkpoint.h"
#include "../space/darts.h"
#include "../train/trainer.h"
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHECK_IMAGES 8
#define CHECK_SEED 20240917u
/* verify()'s default tolerance, relative to the largest check logit: float32 sums in another
 * order over ~20 layers differ by ~1e-6 relative (measured: tests/e2e/test_export.c). */
#define VERIFY_RTOL "1e-4"

/* ---- model.py: the code that does not depend on the run (constants come between) ---- */
static const char py_common[] =
    "import json\n"
    "import os\n"
    "import struct\n"
    "\n"
    "import torch\n"
    "import torch.nn as nn\n"
    "import torch.nn.functional as F\n"
    "\n"
    "HERE = os.path.dirname(os.path.abspath(__file__))\n"
    "_DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I64': torch.int64,\n"
    "           'I32': torch.int32, 'U8': torch.uint8}\n"
    "\n"
    "\n"
    "def read_safetensors(path):\n"
    "    \"\"\"(tensors by name, __metadata__) of a safetensors file, with torch alone (the\n"
    "    `safetensors` package reads it the same way: safetensors.torch.load_file(path)).\"\"\"\n"
    "    with open(path, 'rb') as f:\n"
    "        data = f.read()\n"
    "    if len(data) < 8:\n"
    "        raise ValueError('%s: too short for a safetensors file' % path)\n"
    "    (n,) = struct.unpack('<Q', data[:8])\n"
    "    header = json.loads(data[8:8 + n].decode('utf-8'))\n"
    "    meta = header.pop('__metadata__', {})\n"
    "    buf = data[8 + n:]\n"
    "    out = {}\n"
    "    for name, e in header.items():\n"
    "        begin, end = e['data_offsets']\n"
    "        dtype = _DTYPES[e['dtype']]\n"
    "        if end > begin:  # frombuffer refuses an empty buffer; copied so the tensor is writable\n"
    "            t = torch.frombuffer(bytearray(buf[begin:end]), dtype=dtype)\n"
    "        else:\n"
    "            t = torch.empty(0, dtype=dtype)\n"
    "        out[name] = t.reshape(e['shape'])\n"
    "    return out, meta\n"
    "\n"
    "\n"
    "def _bn(c):\n"
    "    # affine, running statistics, eps 1e-5, momentum 0.1: dnas's BN and PyTorch's defaults\n"
    "    return nn.BatchNorm2d(c)\n";

static const char py_darts[] =
    "\n"
    "\n"
    "def drop_path(x, p):\n"
    "    \"\"\"Zeroes whole samples with probability p and scales the rest by 1 / (1 - p) (DARTS).\"\"\"\n"
    "    keep = 1.0 - p\n"
    "    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)\n"
    "    return x.div(keep).mul(mask)\n"
    "\n"
    "\n"
    "class ReLUConvBN(nn.Module):\n"
    "    def __init__(self, cin, cout):\n"
    "        super().__init__()\n"
    "        self.op = nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 1, bias=False), _bn(cout))\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.op(x)\n"
    "\n"
    "\n"
    "class FactorizedReduce(nn.Module):\n"
    "    \"\"\"ReLU, then two 1x1 stride-2 convs, the second on the input shifted by one pixel,\n"
    "    concatenated, BN: halves H and W.\"\"\"\n"
    "\n"
    "    def __init__(self, cin, cout):\n"
    "        super().__init__()\n"
    "        self.conv_1 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)\n"
    "        self.conv_2 = nn.Conv2d(cin, cout // 2, 1, stride=2, bias=False)\n"
    "        self.bn = _bn(cout)\n"
    "\n"
    "    def forward(self, x):\n"
    "        x = F.relu(x)\n"
    "        return self.bn(torch.cat([self.conv_1(x), self.conv_2(x[:, :, 1:, 1:])], dim=1))\n"
    "\n"
    "\n"
    "class SepConv(nn.Module):\n"
    "    def __init__(self, c, k, stride):\n"
    "        super().__init__()\n"
    "        self.op = nn.Sequential(\n"
    "            nn.ReLU(), nn.Conv2d(c, c, k, stride, k // 2, groups=c, bias=False),\n"
    "            nn.Conv2d(c, c, 1, bias=False), _bn(c),\n"
    "            nn.ReLU(), nn.Conv2d(c, c, k, 1, k // 2, groups=c, bias=False),\n"
    "            nn.Conv2d(c, c, 1, bias=False), _bn(c))\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.op(x)\n"
    "\n"
    "\n"
    "class DilConv(nn.Module):\n"
    "    def __init__(self, c, k, stride):\n"
    "        super().__init__()\n"
    "        self.op = nn.Sequential(\n"
    "            nn.ReLU(), nn.Conv2d(c, c, k, stride, k - 1, dilation=2, groups=c, bias=False),\n"
    "            nn.Conv2d(c, c, 1, bias=False), _bn(c))\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.op(x)\n"
    "\n"
    "\n"
    "class Zero(nn.Module):\n"
    "    def __init__(self, stride):\n"
    "        super().__init__()\n"
    "        self.stride = stride\n"
    "\n"
    "    def forward(self, x):\n"
    "        return x[:, :, ::self.stride, ::self.stride].mul(0.0)\n"
    "\n"
    "\n"
    "def make_op(name, c, stride):\n"
    "    if name == 'none':\n"
    "        return Zero(stride)\n"
    "    if name == 'max_pool_3x3':\n"
    "        return nn.MaxPool2d(3, stride, 1)\n"
    "    if name == 'avg_pool_3x3':\n"
    "        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)\n"
    "    if name == 'skip_connect':\n"
    "        return nn.Identity() if stride == 1 else FactorizedReduce(c, c)\n"
    "    if name in ('sep_conv_3x3', 'sep_conv_5x5'):\n"
    "        return SepConv(c, int(name[-1]), stride)\n"
    "    if name in ('dil_conv_3x3', 'dil_conv_5x5'):\n"
    "        return DilConv(c, int(name[-1]), stride)\n"
    "    raise ValueError('unknown op ' + name)\n"
    "\n"
    "\n"
    "class Cell(nn.Module):\n"
    "    \"\"\"Node i = op_2i(state[in_2i]) + op_2i+1(state[in_2i+1]); states 0, 1 are the two\n"
    "    preprocessed inputs; the output concatenates the states listed in concat.\"\"\"\n"
    "\n"
    "    def __init__(self, pairs, concat, c_pp, c_p, c, reduction, reduction_prev):\n"
    "        super().__init__()\n"
    "        self.preprocess0 = FactorizedReduce(c_pp, c) if reduction_prev else ReLUConvBN(c_pp, c)\n"
    "        self.preprocess1 = ReLUConvBN(c_p, c)\n"
    "        self._indices = [j for _, j in pairs]\n"
    "        self._concat = list(concat)\n"
    "        self._ops = nn.ModuleList(make_op(name, c, 2 if reduction and j < 2 else 1)\n"
    "                                  for name, j in pairs)\n"
    "        self.multiplier = len(concat)\n"
    "\n"
    "    def forward(self, s0, s1, drop_prob):\n"
    "        states = [self.preprocess0(s0), self.preprocess1(s1)]\n"
    "        for i in range(len(self._ops) // 2):\n"
    "            h = []\n"
    "            for op, j in zip(self._ops[2 * i:2 * i + 2], self._indices[2 * i:2 * i + 2]):\n"
    "                y = op(states[j])\n"
    "                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):\n"
    "                    y = drop_path(y, drop_prob)\n"
    "                h.append(y)\n"
    "            states.append(h[0] + h[1])\n"
    "        return torch.cat([states[i] for i in self._concat], dim=1)\n"
    "\n"
    "\n"
    "class AuxiliaryHead(nn.Module):\n"
    "    \"\"\"On the 8x8 output of cell 2L//3; its loss (weight 0.4 in DARTS) is for training only.\"\"\"\n"
    "\n"
    "    def __init__(self, c, classes):\n"
    "        super().__init__()\n"
    "        self.features = nn.Sequential(\n"
    "            nn.ReLU(), nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),\n"
    "            nn.Conv2d(c, 128, 1, bias=False), _bn(128), nn.ReLU(),\n"
    "            nn.Conv2d(128, 768, 2, bias=False), _bn(768), nn.ReLU())\n"
    "        self.classifier = nn.Linear(768, classes)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.classifier(self.features(x).flatten(1))\n"
    "\n"
    "\n"
    "class NetworkCIFAR(nn.Module):\n"
    "    \"\"\"DARTS's evaluation network. forward(x) returns the logits, or in training mode with the\n"
    "    auxiliary head (logits, auxiliary logits). drop_path_prob (settable, e.g. ramped per\n"
    "    epoch as DARTS does) applies in training mode only.\"\"\"\n"
    "\n"
    "    def __init__(self, C, classes, layers, auxiliary, genotype, drop_path_prob=0.0):\n"
    "        super().__init__()\n"
    "        normal, normal_concat, reduce, reduce_concat = genotype\n"
    "        self._layers = layers\n"
    "        self.drop_path_prob = drop_path_prob\n"
    "        self.stem = nn.Sequential(nn.Conv2d(3, 3 * C, 3, padding=1, bias=False), _bn(3 * C))\n"
    "        c_pp, c_p, c = 3 * C, 3 * C, C\n"
    "        self.cells = nn.ModuleList()\n"
    "        reduction_prev, c_aux = False, None\n"
    "        for k in range(layers):\n"
    "            reduction = k in (layers // 3, 2 * layers // 3)\n"
    "            if reduction:\n"
    "                c *= 2\n"
    "            pairs, concat = (reduce, reduce_concat) if reduction else (normal, normal_concat)\n"
    "            cell = Cell(pairs, concat, c_pp, c_p, c, reduction, reduction_prev)\n"
    "            reduction_prev = reduction\n"
    "            self.cells.append(cell)\n"
    "            c_pp, c_p = c_p, cell.multiplier * c\n"
    "            if k == 2 * layers // 3:\n"
    "                c_aux = c_p\n"
    "        if auxiliary:\n"
    "            self.auxiliary_head = AuxiliaryHead(c_aux, classes)\n"
    "        self.classifier = nn.Linear(c_p, classes)\n"
    "\n"
    "    def forward(self, x):\n"
    "        aux = None\n"
    "        s0 = s1 = self.stem(x)\n"
    "        for k, cell in enumerate(self.cells):\n"
    "            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)\n"
    "            if k == 2 * self._layers // 3 and self.training and hasattr(self, 'auxiliary_head'):\n"
    "                aux = self.auxiliary_head(s1)\n"
    "        logits = self.classifier(F.adaptive_avg_pool2d(s1, 1).flatten(1))\n"
    "        return logits if aux is None else (logits, aux)\n"
    "\n"
    "\n"
    "def build(drop_path_prob=0.0):\n"
    "    \"\"\"The network of GENOTYPE with fresh (PyTorch default) weights.\"\"\"\n"
    "    return NetworkCIFAR(CHANNELS, CLASSES, LAYERS, AUXILIARY,\n"
    "                        (NORMAL, NORMAL_CONCAT, REDUCE, REDUCE_CONCAT), drop_path_prob)\n";

static const char py_nb201[] =
    "\n"
    "\n"
    "class ReLUConvBN(nn.Module):\n"
    "    def __init__(self, cin, cout, k, stride, pad):\n"
    "        super().__init__()\n"
    "        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=pad, bias=False)\n"
    "        self.bn = _bn(cout)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.bn(self.conv(F.relu(x)))\n"
    "\n"
    "\n"
    "class Downsample(nn.Module):\n"
    "    def __init__(self, cin, cout):\n"
    "        super().__init__()\n"
    "        self.conv = nn.Conv2d(cin, cout, 1, bias=False)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.conv(F.avg_pool2d(x, 2, stride=2))\n"
    "\n"
    "\n"
    "class ResBlock(nn.Module):\n"
    "    \"\"\"ResNet basic block, stride 2: ReLU-conv3x3/2-BN, ReLU-conv3x3-BN, plus the shortcut\n"
    "    avgpool2 - conv1x1.\"\"\"\n"
    "\n"
    "    def __init__(self, cin, cout):\n"
    "        super().__init__()\n"
    "        self.conv_a = ReLUConvBN(cin, cout, 3, 2, 1)\n"
    "        self.conv_b = ReLUConvBN(cout, cout, 3, 1, 1)\n"
    "        self.downsample = Downsample(cin, cout)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.downsample(x) + self.conv_b(self.conv_a(x))\n"
    "\n"
    "\n"
    "def make_op(name, c):\n"
    "    if name == 'skip_connect':\n"
    "        return nn.Identity()\n"
    "    if name == 'nor_conv_1x1':\n"
    "        return ReLUConvBN(c, c, 1, 1, 0)\n"
    "    if name == 'nor_conv_3x3':\n"
    "        return ReLUConvBN(c, c, 3, 1, 1)\n"
    "    if name == 'avg_pool_3x3':\n"
    "        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)\n"
    "    raise ValueError('unknown op ' + name)\n"
    "\n"
    "\n"
    "class InferCell(nn.Module):\n"
    "    \"\"\"Node 0 is the input; node i = sum over j < i of op(i<-j)(node j); the output is node 3.\n"
    "    'none' edges add zeros, so they are left out (a node with only 'none' edges is zero).\"\"\"\n"
    "\n"
    "    def __init__(self, arch, c):\n"
    "        super().__init__()\n"
    "        self.arch = arch\n"
    "        self.edges = nn.ModuleDict()\n"
    "        for i, ops in enumerate(arch, 1):\n"
    "            for j, name in enumerate(ops):\n"
    "                if name != 'none':\n"
    "                    self.edges['%d<-%d' % (i, j)] = nn.ModuleDict({name: make_op(name, c)})\n"
    "\n"
    "    def forward(self, x):\n"
    "        nodes = [x]\n"
    "        for i, ops in enumerate(self.arch, 1):\n"
    "            terms = [self.edges['%d<-%d' % (i, j)][name](nodes[j])\n"
    "                     for j, name in enumerate(ops) if name != 'none']\n"
    "            node = terms[0] if terms else torch.zeros_like(x)\n"
    "            for t in terms[1:]:\n"
    "                node = node + t\n"
    "            nodes.append(node)\n"
    "        return nodes[-1]\n"
    "\n"
    "\n"
    "class Stem(nn.Module):\n"
    "    def __init__(self, c):\n"
    "        super().__init__()\n"
    "        self.conv = nn.Conv2d(3, c, 3, padding=1, bias=False)\n"
    "        self.bn = _bn(c)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return self.bn(self.conv(x))\n"
    "\n"
    "\n"
    "class LastAct(nn.Module):\n"
    "    def __init__(self, c):\n"
    "        super().__init__()\n"
    "        self.bn = _bn(c)\n"
    "\n"
    "    def forward(self, x):\n"
    "        return F.relu(self.bn(x))\n"
    "\n"
    "\n"
    "class NB201Network(nn.Module):\n"
    "    \"\"\"NAS-Bench-201's network: stem, 3 stages of N cells with a ResNet block between them\n"
    "    (channels double), BN-ReLU, global average pool, linear. forward(x) returns the logits.\"\"\"\n"
    "\n"
    "    def __init__(self, C, N, classes, arch):\n"
    "        super().__init__()\n"
    "        self.stem = Stem(C)\n"
    "        cells, c = [], C\n"
    "        for stage in range(3):\n"
    "            if stage:\n"
    "                cells.append(ResBlock(c, 2 * c))\n"
    "                c *= 2\n"
    "            cells += [InferCell(arch, c) for _ in range(N)]\n"
    "        self.cells = nn.ModuleList(cells)\n"
    "        self.lastact = LastAct(c)\n"
    "        self.classifier = nn.Linear(c, classes)\n"
    "\n"
    "    def forward(self, x):\n"
    "        x = self.stem(x)\n"
    "        for cell in self.cells:\n"
    "            x = cell(x)\n"
    "        return self.classifier(F.adaptive_avg_pool2d(self.lastact(x), 1).flatten(1))\n"
    "\n"
    "\n"
    "def build(drop_path_prob=0.0):\n"
    "    \"\"\"The network of GENOTYPE with fresh (PyTorch default) weights (NB201 has no drop path:\n"
    "    drop_path_prob must be 0).\"\"\"\n"
    "    if drop_path_prob:\n"
    "        raise ValueError('the NB201 network has no drop path')\n"
    "    return NB201Network(CHANNELS, LAYERS, CLASSES, ARCH)\n";

static const char py_api[] =
    "\n"
    "\n"
    "def count_weights(net, aux=False):\n"
    "    \"\"\"Parameters, the auxiliary head excluded unless aux (as dnas and DARTS count them).\"\"\"\n"
    "    return sum(p.numel() for n, p in net.named_parameters()\n"
    "               if aux or not n.startswith('auxiliary_head.'))\n"
    "\n"
    "\n"
    "def load(path=None, drop_path_prob=0.0):\n"
    "    \"\"\"build() with the exported weights and BN statistics (strict: every key must match).\"\"\"\n"
    "    state, _ = read_safetensors(path or os.path.join(HERE, 'weights.safetensors'))\n"
    "    net = build(drop_path_prob)\n"
    "    net.load_state_dict(state, strict=True)\n"
    "    return net\n"
    "\n"
    "\n"
    "def verify(rtol=RTOL, verbose=True):\n"
    "    \"\"\"Checks this module against dnas: the weight count, and the eval-mode logits of the\n"
    "    check batch (check.safetensors) within rtol x the largest logit. Returns the max error.\"\"\"\n"
    "    net = load()\n"
    "    net.eval()\n"
    "    _, meta = read_safetensors(os.path.join(HERE, 'weights.safetensors'))\n"
    "    check, _ = read_safetensors(os.path.join(HERE, 'check.safetensors'))\n"
    "    n, n_aux = count_weights(net), count_weights(net, True) - count_weights(net)\n"
    "    if (n, n_aux) != (int(meta['weights']), int(meta['aux_weights'])):\n"
    "        raise AssertionError('weights: %d (+%d auxiliary) here, dnas has %s (+%s)'\n"
    "                             % (n, n_aux, meta['weights'], meta['aux_weights']))\n"
    "    with torch.no_grad():\n"
    "        got = net(check['inputs'])\n"
    "    want = check['logits']\n"
    "    err = (got - want).abs().max().item()\n"
    "    scale = max(1.0, want.abs().max().item())\n"
    "    if not err <= rtol * scale:\n"
    "        raise AssertionError('logits differ from dnas by %.3g (allowed %.3g)' % (err, rtol * scale))\n"
    "    if verbose:\n"
    "        print('ok: %d weights (+%d auxiliary), logits of %d images within %.3g of dnas (max |logit| %.3g)'\n"
    "              % (n, n_aux, want.shape[0], err, want.abs().max().item()))\n"
    "    return err\n"
    "\n"
    "\n"
    "if __name__ == '__main__':\n"
    "    verify()\n";

/* ---- tensors on their way out -------------------------------------------------------------- */
typedef struct {
    char *name;
    dnas_st_dtype dtype;
    int ndim;
    int64_t shape[4];
    void *data;
} out_tensor;

typedef struct {
    out_tensor *t;
    int n, cap;
} tensor_list;

static void tl_free(tensor_list *l) {
    for (int i = 0; i < l->n; i++) {
        dnas_free(l->t[i].name);
        dnas_free(l->t[i].data);
    }
    dnas_free(l->t);
    memset(l, 0, sizeof *l);
}

/* Appends a tensor of `bytes` bytes whose data the caller fills in at the returned pointer. */
static void *tl_add(tensor_list *l, const char *name, dnas_st_dtype dt, int ndim,
                    int64_t d0, int64_t d1, int64_t d2, int64_t d3, size_t bytes) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 256;
        out_tensor *t = dnas_calloc((size_t)cap * sizeof *t, "export tensor list");
        if (!t) return NULL;
        if (l->n) memcpy(t, l->t, (size_t)l->n * sizeof *t);
        dnas_free(l->t);
        l->t = t;
        l->cap = cap;
    }
    out_tensor *o = &l->t[l->n];
    o->name = dnas_alloc(strlen(name) + 1, "export tensor name");
    o->data = dnas_alloc(bytes ? bytes : 1, "export tensor");
    if (!o->name || !o->data) {
        dnas_free(o->name);
        dnas_free(o->data);
        return NULL;
    }
    memcpy(o->name, name, strlen(name) + 1);
    o->dtype = dt;
    o->ndim = ndim;
    int64_t s[4] = {d0, d1, d2, d3};
    memcpy(o->shape, s, sizeof s);
    l->n++;
    return o->data;
}

static dnas_status tl_write(const tensor_list *l, const char *path, const dnas_st_meta *meta,
                            int n_meta) {
    dnas_st_tensor *t = dnas_calloc((size_t)(l->n ? l->n : 1) * sizeof *t, "export tensors");
    if (!t) return DNAS_ERR_OOM;
    for (int i = 0; i < l->n; i++) {
        t[i].name = l->t[i].name;
        t[i].dtype = l->t[i].dtype;
        t[i].ndim = l->t[i].ndim;
        memcpy(t[i].shape, l->t[i].shape, sizeof l->t[i].shape);
        t[i].data = l->t[i].data;
    }
    dnas_status st = dnas_st_write(path, t, l->n, meta, n_meta);
    dnas_free(t);
    return st;
}

/* OHWI (our conv kernels) -> OIHW (PyTorch's). */
static void ohwi_to_oihw(float *dst, const float *src, int o, int i, int h, int w) {
    for (int a = 0; a < o; a++)
        for (int c = 0; c < i; c++)
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++)
                    dst[(((size_t)a * i + c) * h + y) * w + x] = src[(((size_t)a * h + y) * w + x) * i + c];
}

enum { P_UNKNOWN, P_CONV, P_LINEAR, P_VECTOR };

/* Every parameter and BN buffer of g in PyTorch's layout, plus each BN's num_batches_tracked
 * (= steps); *n_aux = the auxiliary head's share of the weights. */
static dnas_status collect_weights(dnas_graph *g, long steps, tensor_list *l, size_t *n_aux) {
    *n_aux = 0;
    int *kind = dnas_calloc((size_t)(g->n_params ? g->n_params : 1) * sizeof(int), "export kinds");
    if (!kind) return DNAS_ERR_OOM;
    dnas_status st = DNAS_OK;
    for (int k = 0; k < g->n_nodes && st == DNAS_OK; k++) {
        const dnas_node *n = &g->nodes[k];
        const char *op = n->op->name;
        if (!strcmp(op, "linear")) {
            dnas_shape xs = g->vals[n->in[0]].shape;
            /* Our flatten is NHWC, PyTorch's NCHW: the same only on 1x1 maps (GAP, aux head). */
            if (xs.h * xs.w != 1)
                st = dnas_fail(DNAS_ERR_UNSUPPORTED, "export: linear layer %s reads a %dx%d map; "
                               "only 1x1 inputs map onto PyTorch's flatten", n->name, xs.h, xs.w);
        }
        for (int j = 0; j < 2; j++) {
            if (n->par[j] < 0) continue;
            if (!strcmp(op, "conv2d")) kind[n->par[j]] = j == 0 ? P_CONV : P_VECTOR;
            else if (!strcmp(op, "linear")) kind[n->par[j]] = j == 0 ? P_LINEAR : P_VECTOR;
            else if (!strcmp(op, "batchnorm") || !strcmp(op, "batchnorm_relu"))
                kind[n->par[j]] = P_VECTOR;
        }
    }
    for (int i = 0; i < g->n_params && st == DNAS_OK; i++) {
        const dnas_param *p = &g->params[i];
        dnas_shape s = p->shape;
        size_t numel = dnas_shape_numel(s);
        const float *src = g->w + p->off;
        float *dst = NULL;
        if (!strncmp(p->name, "auxiliary_head.", 15)) *n_aux += numel;
        switch (kind[i]) {
        case P_CONV:
            dst = tl_add(l, p->name, DNAS_ST_F32, 4, s.n, s.c, s.h, s.w, numel * sizeof(float));
            if (dst) ohwi_to_oihw(dst, src, s.n, s.c, s.h, s.w);
            break;
        case P_LINEAR: /* (out, in, 1, 1): already row-major (out, in) */
            dst = tl_add(l, p->name, DNAS_ST_F32, 2, s.n, s.c, 0, 0, numel * sizeof(float));
            if (dst) memcpy(dst, src, numel * sizeof(float));
            break;
        case P_VECTOR:
            dst = tl_add(l, p->name, DNAS_ST_F32, 1, (int64_t)numel, 0, 0, 0, numel * sizeof(float));
            if (dst) memcpy(dst, src, numel * sizeof(float));
            break;
        default:
            st = dnas_fail(DNAS_ERR_INTERNAL, "export: parameter %s belongs to an op the exporter "
                           "does not know", p->name);
            continue;
        }
        if (!dst) st = DNAS_ERR_OOM;
    }
    for (int b = 0; b < g->n_bufdesc && st == DNAS_OK; b++) {
        const dnas_buffer *d = &g->bufdesc[b];
        float *dst = tl_add(l, d->name, DNAS_ST_F32, 1, (int64_t)d->n, 0, 0, 0, d->n * sizeof(float));
        if (!dst) {
            st = DNAS_ERR_OOM;
            break;
        }
        memcpy(dst, g->bufs + d->off, d->n * sizeof(float));
        const char *suffix = ".running_mean";
        size_t len = strlen(d->name), sl = strlen(suffix);
        if (len > sl && !strcmp(d->name + len - sl, suffix)) {
            char name[96];
            snprintf(name, sizeof name, "%.*s.num_batches_tracked", (int)(len - sl), d->name);
            int64_t *v = tl_add(l, name, DNAS_ST_I64, 0, 0, 0, 0, 0, sizeof(int64_t));
            if (!v) st = DNAS_ERR_OOM;
            else *v = steps;
        }
    }
    dnas_free(kind);
    return st;
}

/* ---- the check batch ------------------------------------------------------------------------ */
/* The first CHECK_IMAGES test images of the run's data set, normalised as dnas trains on them
 * (NHWC), or, when the data cannot be read here, N(0,1) noise from a fixed seed. */
static void check_inputs(const dnas_train_config *c, float *x, int64_t *labels, int *have_labels,
                         char *desc, size_t cap) {
    size_t px = (size_t)CHECK_IMAGES * DNAS_CIFAR_PIXELS;
    dnas_cifar_kind kind = !strcmp(c->dataset, "cifar100") ? DNAS_CIFAR100 : DNAS_CIFAR10;
    dnas_cifar test;
    memset(&test, 0, sizeof test);
    dnas_loader *L = NULL;
    char why[400] = "";
    *have_labels = 0;
    dnas_status st = c->data_dir[0] ? dnas_cifar_load(c->data_dir, kind, DNAS_PART_TEST, &test)
                                    : dnas_fail(DNAS_ERR_IO, "no data directory recorded");
    if (st == DNAS_OK && test.n < CHECK_IMAGES)
        st = dnas_fail(DNAS_ERR_FORMAT, "fewer than %d test images", CHECK_IMAGES);
    if (st == DNAS_OK) {
        int idx[CHECK_IMAGES];
        for (int i = 0; i < CHECK_IMAGES; i++) idx[i] = i;
        dnas_loader_config lc;
        dnas_loader_config_eval(&lc, &test, CHECK_IMAGES);
        lc.idx = idx;
        lc.n_idx = CHECK_IMAGES;
        lc.prefetch = 0;
        lc.norm = !strcmp(c->space, "darts") ? DNAS_NORM_DARTS : DNAS_NORM_AUTODL;
        dnas_loader_batch b;
        st = dnas_loader_create(&lc, &L);
        if (st == DNAS_OK) st = dnas_loader_next(L, &b);
        if (st == DNAS_OK) {
            memcpy(x, b.train.x, px * sizeof(float));
            for (int i = 0; i < CHECK_IMAGES; i++) labels[i] = b.train.y[i];
            *have_labels = 1;
            snprintf(desc, cap, "%s test images 0-%d, normalised as dnas trains on them",
                     kind == DNAS_CIFAR100 ? "CIFAR-100" : "CIFAR-10", CHECK_IMAGES - 1);
        }
    }
    if (st != DNAS_OK) {
        snprintf(why, sizeof why, "%s", dnas_last_error());
        dnas_clear_error();
        dnas_rng rng = dnas_rng_make(CHECK_SEED, 0);
        for (size_t i = 0; i < px; i++) x[i] = dnas_rng_normal(&rng);
        snprintf(desc, cap, "N(0,1) noise images (seed %u): the run's data could not be read (%.300s)",
                 CHECK_SEED, why);
    }
    dnas_loader_destroy(L);
    dnas_cifar_free(&test);
}

/* ---- model.py -------------------------------------------------------------------------------- */

/* A Python string literal: JSON's escaping is valid Python for what genotypes hold. */
static void py_str(dnas_sbuf *sb, const char *s) { dnas_sb_json_string(sb, s); }

/* The parsed genotype: model.py's constants and the canonical text (genotype.txt). */
typedef struct {
    int darts;
    dnas_darts_genotype gt;
    int ops[DNAS_NB201_EDGES];
    char text[1024];
} genotype_info;

static dnas_status parse_genotype(const dnas_train_config *c, genotype_info *gi) {
    memset(gi, 0, sizeof *gi);
    gi->darts = !strcmp(c->space, "darts");
    if (gi->darts) {
        DNAS_TRY(dnas_darts_genotype_parse(c->genotype, &gi->gt));
        for (int t = 0; t < 2; t++)
            for (int p = 0; p < DNAS_DARTS_PAIRS; p++)
                if (gi->gt.op[t][p] == DNAS_DARTS_NOISE)
                    return dnas_fail(DNAS_ERR_UNSUPPORTED, "export: the genotype uses 'noise' "
                                     "(RobustDARTS S4), a random op with no trained weights and no "
                                     "reproducible output: nothing to export");
        return dnas_darts_genotype_format(&gi->gt, gi->text, sizeof gi->text);
    }
    DNAS_TRY(dnas_nb201_arch_parse(c->genotype, gi->ops));
    return dnas_nb201_arch_format(gi->ops, gi->text, sizeof gi->text);
}

static void py_pairs(dnas_sbuf *sb, const char *name, const dnas_darts_genotype *gt, int t) {
    dnas_sb_printf(sb, "%s = [", name);
    for (int p = 0; p < DNAS_DARTS_PAIRS; p++)
        dnas_sb_printf(sb, "%s('%s', %d)", p ? ", " : "", dnas_darts_ops[gt->op[t][p]], gt->in[t][p]);
    dnas_sb_printf(sb, "]\n%s_CONCAT = [", name);
    for (int j = 0; j < gt->n_concat[t]; j++) dnas_sb_printf(sb, "%s%d", j ? ", " : "", gt->concat[t][j]);
    dnas_sb_printf(sb, "]\n");
}

static void model_py(dnas_sbuf *sb, const dnas_train_config *c, const genotype_info *gi,
                     const char *source, int trained) {
    int classes = !strcmp(c->dataset, "cifar100") ? 100 : 10;
    dnas_sb_printf(sb, "\"\"\"%s exported by dnas %s (`dnas export --to pytorch`).\n\n"
                   "A standalone PyTorch module (only torch is needed) with the genotype baked in.\n",
                   gi->darts ? "DARTS's NetworkCIFAR" : "The NAS-Bench-201 network", DNAS_VERSION);
    /* The path goes into a docstring: quotes, backslashes and control bytes become '?'. */
    char src[600];
    size_t k = 0;
    for (const char *p = source; *p && k + 1 < sizeof src; p++)
        src[k++] = (unsigned char)*p < 0x20 || *p == '"' || *p == '\\' || *p == 0x7f ? '?' : *p;
    src[k] = 0;
    dnas_sb_printf(sb, "\nSource: %s (%s). Genotype (genotype.txt):\n    %s\n\n", src,
                   trained ? "trained weights" : "freshly initialised weights, not trained", gi->text);
    dnas_sb_printf(sb, "%s",
        "Files beside this one:\n"
        "    weights.safetensors  the weights and BN running statistics; its keys are exactly this\n"
        "                         module's state_dict() keys, so load_state_dict(strict=True) works\n"
        "    check.safetensors    a fixed batch of inputs (NCHW) and dnas's own eval-mode logits\n"
        "    genotype.txt         the genotype as dnas and the community's tools write it\n\n"
        "Use (inputs: N x 3 x 32 x 32, normalised with MEAN and STD below, as dnas trained it):\n\n"
        "    import model\n"
        "    net = model.load()        # build() + the exported weights; model.build() = fresh ones\n"
        "    net.eval()\n"
        "    logits = net(x)\n"
        "    model.verify()            # or: python3 model.py -- checks the logits against dnas's\n");
    if (gi->darts)
        dnas_sb_printf(sb, "%s",
            "\nIn training mode a network with the auxiliary head returns (logits, aux_logits); DARTS\n"
            "adds 0.4 x the auxiliary loss. drop_path_prob (argument of build() and load(), an\n"
            "attribute of the module) applies in training mode only; DARTS ramps it 0 -> 0.2.\n");
    dnas_sb_printf(sb, "\"\"\"\n%s\n\n# ---- this export ----\n", py_common);
    dnas_sb_printf(sb, "SPACE = ");
    py_str(sb, c->space);
    dnas_sb_printf(sb, "\nGENOTYPE = ");
    py_str(sb, gi->text);
    dnas_sb_printf(sb, "\nCHANNELS = %d\nLAYERS = %d  # %s\nCLASSES = %d\n", c->channels, c->cells,
                   gi->darts ? "cells L (reductions at L//3 and 2L//3)" : "cells per stage N",
                   classes);
    float mean[3], std[3];
    dnas_cifar_norm_as(!strcmp(c->dataset, "cifar100") ? DNAS_CIFAR100 : DNAS_CIFAR10,
                       gi->darts ? DNAS_NORM_DARTS : DNAS_NORM_AUTODL, mean, std);
    dnas_sb_printf(sb, "MEAN = (%.9g, %.9g, %.9g)  # per RGB channel, of pixels / 255\n"
                   "STD = (%.9g, %.9g, %.9g)\n", (double)mean[0], (double)mean[1], (double)mean[2],
                   (double)std[0], (double)std[1], (double)std[2]);
    dnas_sb_printf(sb, "RTOL = %s  # verify(): allowed |logit - dnas's| / max(1, max |logit|)\n",
                   VERIFY_RTOL);
    if (gi->darts) {
        dnas_sb_printf(sb, "AUXILIARY = %s\n", c->auxiliary ? "True" : "False");
        py_pairs(sb, "NORMAL", &gi->gt, 0);
        py_pairs(sb, "REDUCE", &gi->gt, 1);
        dnas_sb_printf(sb, "%s", py_darts);
    } else {
        /* Node i's ops on its inputs 0..i-1; edges are numbered node by node. */
        dnas_sb_printf(sb, "ARCH = [");
        for (int i = 1, e = 0; i < 4; i++) {
            dnas_sb_printf(sb, "%s[", i > 1 ? ", " : "");
            for (int j = 0; j < i; j++, e++)
                dnas_sb_printf(sb, "%s'%s'", j ? ", " : "", dnas_nb201_op_name(gi->ops[e]));
            dnas_sb_printf(sb, "]");
        }
        dnas_sb_printf(sb, "]\n%s", py_nb201);
    }
    dnas_sb_printf(sb, "%s", py_api);
}

/* ---- the output directory --------------------------------------------------------------------- */
/* OUT may not exist yet, or be an empty directory; anything else is refused untouched. */
static dnas_status check_out(const char *out) {
    struct stat sb;
    if (stat(out, &sb) != 0) {
        if (errno == ENOENT) return DNAS_OK;
        return dnas_fail(DNAS_ERR_IO, "%s: %s", out, strerror(errno));
    }
    if (!S_ISDIR(sb.st_mode))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: exists and is not a directory; choose a new "
                         "output directory (nothing was written)", out);
    DIR *d = opendir(out);
    if (!d) return dnas_fail(DNAS_ERR_IO, "%s: %s", out, strerror(errno));
    int empty = 1;
    for (struct dirent *e; empty && (e = readdir(d));)
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    if (!empty)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: exists and is not empty; choose a new or empty "
                         "output directory (nothing was overwritten)", out);
    return DNAS_OK;
}

static const char *const out_files[] = {"model.py", "weights.safetensors", "check.safetensors",
                                        "genotype.txt"};
#define N_OUT_FILES 4

static void remove_staging(const char *tmp) {
    char p[1200];
    for (int i = 0; i < N_OUT_FILES; i++) {
        snprintf(p, sizeof p, "%s/%s", tmp, out_files[i]);
        unlink(p);
        snprintf(p, sizeof p, "%s/%s.tmp", tmp, out_files[i]);
        unlink(p);
    }
    rmdir(tmp);
}

/* The value of `key` in "key=value" lines (a stored configuration), if present and short
 * enough for buf. */
static void conf_value(const char *cfg, size_t n, const char *key, char *buf, size_t cap) {
    size_t kl = strlen(key);
    for (size_t i = 0; cfg && i + kl < n; i++) {
        if ((i > 0 && cfg[i - 1] != '\n') || strncmp(cfg + i, key, kl) || cfg[i + kl] != '=') continue;
        size_t b = i + kl + 1, e = b;
        while (e < n && cfg[e] != '\n') e++;
        if (e - b < cap) {
            memcpy(buf, cfg + b, e - b);
            buf[e - b] = 0;
        }
        return;
    }
}

/* ---- the source run ---------------------------------------------------------------------------- */
/* The network to export: a training run's (with its weights unless untrained), or, with
 * untrained, the evaluation network of a finished search's genotype.txt with the space's
 * default training settings (what `dnas train --genotype DIR/genotype.txt` would train). */
static dnas_status open_source(const char *dir, int untrained, dnas_trainer **t) {
    *t = NULL;
    struct stat sb;
    if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return dnas_fail(DNAS_ERR_IO, "%s: no such run directory", dir);
    char ckpt[1100], geno[1100];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.dnas", dir);
    snprintf(geno, sizeof geno, "%s/genotype.txt", dir);
    if (!dnas_file_exists(ckpt))
        return dnas_fail(DNAS_ERR_IO, "%s: missing: %s is not a dnas train run directory", ckpt, dir);
    dnas_ckpt *ck = NULL;
    DNAS_TRY(dnas_ckpt_read(ckpt, NULL, &ck));
    char kind[64];
    snprintf(kind, sizeof kind, "%s", dnas_ckpt_kind(ck));
    /* A search's data set and data directory, from its stored "key=value" lines. */
    char dataset[32] = "cifar10", data_dir[512] = "";
    size_t n = 0;
    const char *cfg = dnas_ckpt_find(ck, "config", &n);
    conf_value(cfg, n, "dataset", dataset, sizeof dataset);
    conf_value(cfg, n, "data_dir", data_dir, sizeof data_dir);
    dnas_ckpt_free(ck);
    if (!strncmp(kind, "train/", 6)) return dnas_trainer_load(ckpt, CHECK_IMAGES, 0, !untrained, t);
    if (strncmp(kind, "search/", 7) != 0)
        return dnas_fail(DNAS_ERR_FORMAT, "%s: a '%s' checkpoint, not a training run's or a "
                         "search's", ckpt, kind);
    if (!untrained)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s is a search run: its weights are the supernet's. "
                         "Train its architecture first (dnas train --genotype %s --out RUN, then "
                         "dnas export RUN), or pass --untrained for fresh weights", dir, geno);
    if (!dnas_file_exists(geno))
        return dnas_fail(DNAS_ERR_IO, "%s: missing: the search in %s has not finished (dnas search "
                         "--resume %s)", geno, dir, dir);
    dnas_train_config c;
    DNAS_TRY(dnas_train_config_default(&c, kind + 7));
    DNAS_TRY(dnas_train_config_set(&c, "dataset", dataset));
    DNAS_TRY(dnas_train_config_set(&c, "genotype", geno));
    snprintf(c.data_dir, sizeof c.data_dir, "%s", data_dir); /* for the check images only */
    c.threads = 0;
    return dnas_trainer_fresh(&c, CHECK_IMAGES, t);
}

/* ---- export --------------------------------------------------------------------------------- */
dnas_status dnas_export_pytorch(const char *dir, const char *out, unsigned flags,
                                dnas_export_result *r) {
    dnas_export_result local;
    if (!r) r = &local;
    memset(r, 0, sizeof *r);
    if (!dir || !dir[0] || !out || !out[0])
        return dnas_fail(DNAS_ERR_INVALID_ARG, "export needs a run directory and an output directory");
    if (flags & ~(unsigned)DNAS_EXPORT_UNTRAINED)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "export: unknown flags 0x%x", flags);
    /* OUT without trailing slashes: the staging directory is its sibling. */
    char outd[1024];
    size_t ol = strlen(out);
    while (ol > 1 && out[ol - 1] == '/') ol--;
    if (ol >= sizeof outd - 64)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: output path too long", out);
    memcpy(outd, out, ol);
    outd[ol] = 0;
    DNAS_TRY(check_out(outd));
    int untrained = (flags & DNAS_EXPORT_UNTRAINED) != 0;
    dnas_trainer *t = NULL;
    DNAS_TRY(open_source(dir, untrained, &t));
    const dnas_train_config *c = dnas_trainer_config(t);
    dnas_graph *g = dnas_trainer_graph(t);
    long steps = untrained ? 0 : dnas_trainer_total_steps(t);
    int classes = !strcmp(c->dataset, "cifar100") ? 100 : 10;

    genotype_info gi;
    tensor_list wl = {0}, cl = {0};
    dnas_sbuf py = {0}, gtxt = {0};
    size_t n_aux = 0;
    char desc[512];
    char tmp[1100] = "";
    int staged = 0;
    dnas_status st = parse_genotype(c, &gi);
    if (st == DNAS_OK) st = collect_weights(g, steps, &wl, &n_aux);
    /* The check batch: inputs NCHW for PyTorch, our logits of the same images. */
    float *x = NULL, *xc = NULL, *lg = NULL;
    int64_t *lab = NULL;
    if (st == DNAS_OK) {
        size_t px = (size_t)CHECK_IMAGES * DNAS_CIFAR_PIXELS;
        x = dnas_alloc(px * sizeof(float), "export check images");
        int64_t labels[CHECK_IMAGES];
        int have_labels = 0;
        if (!x) st = DNAS_ERR_OOM;
        if (st == DNAS_OK) {
            check_inputs(c, x, labels, &have_labels, desc, sizeof desc);
            xc = tl_add(&cl, "inputs", DNAS_ST_F32, 4, CHECK_IMAGES, 3, DNAS_CIFAR_SIDE,
                        DNAS_CIFAR_SIDE, px * sizeof(float));
            lg = tl_add(&cl, "logits", DNAS_ST_F32, 2, CHECK_IMAGES, classes, 0, 0,
                        (size_t)CHECK_IMAGES * classes * sizeof(float));
            lab = have_labels ? tl_add(&cl, "labels", DNAS_ST_I64, 1, CHECK_IMAGES, 0, 0, 0,
                                       sizeof labels) : labels;
            if (!xc || !lg || !lab) st = DNAS_ERR_OOM;
        }
        if (st == DNAS_OK) {
            /* NHWC -> NCHW: channels are the innermost axis of ours. */
            for (int i = 0; i < CHECK_IMAGES; i++)
                ohwi_to_oihw(xc + (size_t)i * DNAS_CIFAR_PIXELS, x + (size_t)i * DNAS_CIFAR_PIXELS,
                             1, 3, DNAS_CIFAR_SIDE, DNAS_CIFAR_SIDE);
            if (have_labels) memcpy(lab, labels, sizeof labels);
            st = dnas_trainer_eval_logits(t, x, CHECK_IMAGES, lg);
        }
    }
    if (st == DNAS_OK) {
        model_py(&py, c, &gi, dir, !untrained);
        dnas_sb_printf(&gtxt, "%s\n", gi.text);
        if (py.oom || gtxt.oom) st = dnas_fail(DNAS_ERR_OOM, "out of memory writing model.py");
    }
    if (st == DNAS_OK) {
        r->n_weights = g->n_weights - n_aux;
        r->n_aux_weights = n_aux;
        r->n_buffers = g->n_bufs;
        r->trained = !untrained;
        r->epochs = untrained ? 0 : dnas_trainer_epoch(t);
        r->steps = steps;
        snprintf(r->space, sizeof r->space, "%s", c->space);
        snprintf(r->genotype, sizeof r->genotype, "%s", gi.text);
        snprintf(r->inputs, sizeof r->inputs, "%s", desc);
        snprintf(tmp, sizeof tmp, "%s.export-tmp-%ld", outd, (long)getpid());
        remove_staging(tmp); /* a leftover of a killed export with our pid */
        st = dnas_mkdir_p(tmp);
        staged = st == DNAS_OK;
    }
    if (st == DNAS_OK) {
        char nw[32], na[32], nb[32], ns[32], ne[32], cc[16], cl_[16], ncl[16];
        snprintf(nw, sizeof nw, "%zu", r->n_weights);
        snprintf(na, sizeof na, "%zu", r->n_aux_weights);
        snprintf(nb, sizeof nb, "%zu", r->n_buffers);
        snprintf(ns, sizeof ns, "%ld", steps);
        snprintf(ne, sizeof ne, "%d", r->epochs);
        snprintf(cc, sizeof cc, "%d", c->channels);
        snprintf(cl_, sizeof cl_, "%d", c->cells);
        snprintf(ncl, sizeof ncl, "%d", classes);
        dnas_st_meta wm[] = {{"format", "pt"}, {"dnas_version", DNAS_VERSION},
                             {"space", c->space}, {"genotype", gi.text},
                             {"channels", cc}, {"cells", cl_}, {"classes", ncl},
                             {"auxiliary", gi.darts && c->auxiliary ? "1" : "0"},
                             {"weights", nw}, {"aux_weights", na}, {"bn_buffers", nb},
                             {"trained", untrained ? "0" : "1"}, {"epochs", ne}, {"steps", ns}};
        dnas_st_meta cm[] = {{"format", "pt"}, {"dnas_version", DNAS_VERSION},
                             {"space", c->space}, {"genotype", gi.text}, {"inputs", desc},
                             {"logits", "dnas eval mode: BN running statistics, no drop path, "
                                        "main head"}};
        char p[1200];
        snprintf(p, sizeof p, "%s/weights.safetensors", tmp);
        st = tl_write(&wl, p, wm, (int)(sizeof wm / sizeof wm[0]));
        snprintf(p, sizeof p, "%s/check.safetensors", tmp);
        if (st == DNAS_OK) st = tl_write(&cl, p, cm, (int)(sizeof cm / sizeof cm[0]));
        snprintf(p, sizeof p, "%s/model.py", tmp);
        if (st == DNAS_OK) st = dnas_write_file_atomic(p, py.buf, py.len);
        snprintf(p, sizeof p, "%s/genotype.txt", tmp);
        if (st == DNAS_OK) st = dnas_write_file_atomic(p, gtxt.buf, gtxt.len);
    }
    /* rename() replaces an empty directory and refuses a non-empty one: OUT filled by someone
     * else meanwhile is never overwritten. */
    if (st == DNAS_OK && rename(tmp, outd) != 0)
        st = dnas_fail(DNAS_ERR_IO, "%s: cannot move the export into place: %s%s", outd,
                       strerror(errno), errno == ENOTEMPTY || errno == EEXIST ?
                       " (something was written there meanwhile; nothing was overwritten)" : "");
    if (st != DNAS_OK && staged) remove_staging(tmp);
    dnas_free(x);
    dnas_sb_free(&py);
    dnas_sb_free(&gtxt);
    tl_free(&wl);
    tl_free(&cl);
    dnas_trainer_close(t);
    return st;
}
