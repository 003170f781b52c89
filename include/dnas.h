/* libdnas: differentiable neural architecture search in C.
 * The public API. Handles are opaque; every call that can fail returns dnas_status and leaves a
 * one-line message in dnas_last_error(). The library never exits the process. */
#ifndef DNAS_H
#define DNAS_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DNAS_API __attribute__((visibility("default")))

/* Enums only ever grow at the end. */
typedef enum {
    DNAS_OK = 0,
    DNAS_ERR_INVALID_ARG,
    DNAS_ERR_OOM,
    DNAS_ERR_IO,
    DNAS_ERR_FORMAT,
    DNAS_ERR_UNSUPPORTED,
    DNAS_ERR_INTERNAL,
    DNAS_ERR_INTERRUPTED
} dnas_status;

DNAS_API const char *dnas_status_string(dnas_status st);
/* Thread-local text of the last failure ("" if none). */
DNAS_API const char *dnas_last_error(void);
DNAS_API void dnas_clear_error(void);

/* ---- memory ------------------------------------------------------------------------------ */
typedef struct {
    void *(*alloc)(void *user, size_t bytes); /* must return 64-byte aligned memory or NULL */
    void (*free)(void *user, void *p);
    void *user;
} dnas_allocator;
/* Replace the allocator used for every later library allocation (NULL restores the default).
 * Each block is freed by the allocator that made it, so an allocator's free and user pointer
 * must stay valid until the library has released everything allocated through it. */
DNAS_API void dnas_set_allocator(const dnas_allocator *a);

/* A test allocator that fails its `fail_at`-th allocation (1-based); `calls` counts them. */
typedef struct {
    long calls;
    long fail_at;
} dnas_failing_allocator;
DNAS_API void dnas_failing_allocator_install(dnas_failing_allocator *f, long fail_at);

/* ---- supernets --------------------------------------------------------------------------- */
typedef struct dnas_supernet dnas_supernet;

typedef struct {
    const char *space;   /* "nb201" */
    int classes;         /* 10 for CIFAR-10 */
    int batch;           /* planned batch size */
    int channels;        /* C (NB201: 16) */
    int cells;           /* cells per stage N (NB201: 5) */
    int image;           /* input height = width (32) */
    int track_bn;        /* cell BN keeps running statistics (AutoDL BN arg; default 0) */
    uint64_t seed;       /* weight and alpha initialisation */
    const char *ops;     /* op-set variant of the space ("" or NULL = its default; NB201:
                            "no-none" drops 'none' from every edge) */
    int pc_k;            /* PC-DARTS partial channels: mixed ops see the first C/pc_k channels,
                            the rest bypass (0 or 1 = off: every channel, the plain supernet) */
    int edge_norm;       /* PC-DARTS edge normalisation: one more mixing weight per edge
                            (space.h's edge block) scales the whole edge output (0 = off) */
    int node_bn;         /* DARTS-PRIME "statebn": each intermediate node's sum goes through a
                            BatchNorm without affine parameters (0 = off) */
    int drop_path;       /* ScheduledDropPath (RobustDARTS): a drop-path node on every mixed
                            edge's output, probability g->drop_prob (0 = none built; DARTS) */
} dnas_supernet_config;

DNAS_API void dnas_supernet_config_default(dnas_supernet_config *c);
DNAS_API dnas_status dnas_supernet_create(const dnas_supernet_config *c, dnas_supernet **out);
DNAS_API void dnas_supernet_destroy(dnas_supernet *s);

typedef struct {
    size_t n_weights;      /* trainable weights (alpha excluded) */
    size_t n_buffers;      /* BN running statistics */
    int arch_rows, arch_cols;
    size_t peak_bytes;     /* planned activation + gradient arena */
    size_t param_bytes;    /* weights, their grads, optimiser state not included */
    int n_nodes;
} dnas_supernet_info;
DNAS_API dnas_status dnas_supernet_get_info(const dnas_supernet *s, dnas_supernet_info *out);


/* ---- search ------------------------------------------------------------------------------ */
/* Every field can be set by name (dnas_search_config_set), which is how the CLI's --flags,
 * config.json and the checkpoint's stored configuration all map onto it. */
typedef struct {
    char space[32];        /* nb201 */
    char algo[32];         /* darts1 | darts2 | idarts | gaea */
    char dataset[32];      /* cifar10 */
    char data_dir[512];    /* official binary format directory ("" = $DNAS_DATA) */
    char out_dir[512];     /* run directory */
    char table[512];       /* NB201 results table for the final lookup ("" = skip) */
    char split_file[512];  /* NB201's cifar-split.txt: the papers' 25k/25k search split ("" =
                              our fixed stratified split, src/data/data.h) */
    int epochs, batch, channels, cells, track_bn, threads;
    int image;             /* input height = width (CIFAR: 32) */
    uint64_t seed;
    double lr, lr_min, momentum, weight_decay, grad_clip;
    int nesterov;
    double arch_lr, arch_beta1, arch_beta2, arch_weight_decay;
    int train_images;      /* 0 = the whole 25k/25k split; k = first k of each half (reduced runs) */
    int log_every;         /* steps between log.jsonl lines */
    int ckpt_every;        /* steps between checkpoints (0 = only at each epoch's end) */
    int progress;          /* progress line on stderr: 1 on, 0 off, -1 if stderr is a terminal */
    int max_steps;         /* stop (with a checkpoint) after this many steps in this process and
                              return DNAS_ERR_INTERRUPTED (the search is incomplete); 0 = none */
    char ops[32];          /* op-set variant of the space ("" = its default; NB201: all | no-none) */
    int lr_epochs;         /* cosine schedule length in epochs (0 = --epochs; GAEA: 50 over 25) */
    int single_level;      /* 1: both steps on the training data (GAEA's ERM variant) */
    int fix_alpha;         /* 1: alpha never updated (DARTS-PT's fixed-alpha supernet) */
    int freeze_weights;    /* 1: the supernet keeps its initial weights, only alpha learns (the
                              iDARTS NB201 notebook as written: its inner steps step a deep copy
                              of the optimiser); iDARTS then takes one hypergradient per batch */
    int inner_steps;       /* iDARTS: weight steps T per hypergradient */
    int neumann_k;         /* iDARTS: Neumann-series terms K */
    double gamma;          /* iDARTS: Neumann step (0 = the current weight learning rate) */
    double entropy_reg;    /* GAEA: weight of the entropic regulariser (KL to uniform) */
    char select[16];       /* selection after the search: magnitude | pt */
    int pt_interval;       /* DARTS-PT: tuning epochs between decisions (5) */
    double pt_lr;          /* DARTS-PT: constant tuning lr (0 = --lr / 10) */
    int track_ev;          /* 1: log the dominant eigenvalue of the validation Hessian w.r.t.
                              alpha (RobustDARTS, ALGORITHMS.md §B9; rdarts: 1) */
    int ev_every;          /* ... every ev_every-th epoch counted from 0, and the last (2) */
    int ev_iters;          /* power-iteration products at most per eigenvalue (50) */
    double ev_tol;         /* power iteration stops at this relative change (1e-4) */
    char rdarts_reg[16];   /* RobustDARTS: l2 (SGD weight decay --rdarts-factor) | none */
    double rdarts_factor;  /* RobustDARTS: the L2 factor (3e-4, the grid's first value) */
    int rdarts_order;      /* RobustDARTS: 1 first order, 2 unrolled (2, as the reference) */
    char rdarts_es[8];     /* RobustDARTS: none | es (DARTS-ES) | ada (DARTS-ADA); es */
    int es_window;         /* DARTS-ES: eigenvalues per local average (5) */
    int es_delta;          /* DARTS-ES: compare with the average this many entries back (4) */
    int es_start;          /* DARTS-ES: earliest stop epoch (10) */
    double es_factor;      /* DARTS-ES: stop when the averages' ratio exceeds this (1.3) */
    double ada_mul;        /* DARTS-ADA: weight-decay multiplier per roll back (3) */
    double ada_max_wd;     /* DARTS-ADA: largest weight decay (0.03) */
    int pc_k;              /* PC-DARTS: partial channels 1/K on mixed edges (1 = off; pcdarts: 4) */
    int edge_norm;         /* PC-DARTS: per-edge weights beta, softmax over each node's edges
                              (0/1; only --algo pcdarts learns them; pcdarts: 1) */
    int warmup_epochs;     /* PC-DARTS: epochs before the first arch step (pcdarts: 15) */
    double zero_one_weight; /* FairDARTS: weight w01 of the zero-one loss (10) */
    double derive_threshold; /* FairDARTS: threshold derivation, an op kept only if its weight
                                >= this (0.85); 0 = the space's argmax derivation */
    char drnas_reg[8];     /* DrNAS: regulariser l2 (Adam decay --arch-weight-decay) | kl */
    double reg_scale;      /* DrNAS: weight of KL(Dir(beta) || Dir(1)) with --drnas-reg kl */
    double tau_max, tau_min; /* SNAS/GDAS: Gumbel temperature schedule's start and end */
    int tau_epochs;        /* SNAS/GDAS: its length in epochs (0 = --epochs; SNAS: 150) */
    double resource_lambda; /* SNAS: weight of the resource penalty of the sampled child */
    char resource_cost[8]; /* SNAS: flops | params (the op cost table, space.h) */
    int log_penalty;       /* SNAS: penalty log(cost) instead of cost (0/1) */
    double resource_ratio; /* SNAS: weight of the reduction cells' cost against normal's (1) */
    double arch_grad_clip; /* SNAS: global norm clip of alpha's gradient (0 = off; snas: 10) */
    char prime_act[16];    /* DARTS-PRIME: softmax | clip (CRB: clip(alpha, 0, 1), 'none' removed,
                              alpha <= 0 after a weight step pruned for good) */
    char prime_reg[8];     /* DARTS-PRIME: none | prox | admm (prime: prox) */
    double prime_rho;      /* DARTS-PRIME: penalty weight rho of prox and ADMM (0.1) */
    char admm_mode[8];     /* DARTS-PRIME: code (the reference's updates) | clean (scaled ADMM) */
    int admm_freq;         /* DARTS-PRIME: alpha steps between ADMM Z/U updates (10) */
    int dyno_schedule;     /* DARTS-PRIME: 1 informed alpha-step schedule, 0 fixed (prime: 1) */
    int sched_freq;        /* DARTS-PRIME: f, weight steps per alpha step on average (prime: 10) */
    double sched_tau0, sched_mult, sched_ewma; /* DARTS-PRIME: tau0 1, m 1.05, EWMA weight 0.2 */
    int state_bn;          /* DARTS-PRIME: BN on node sums: 1 on, 0 off, -1 = with clip only */
    int dyno_split;        /* DARTS-PRIME: 1 = weights train on 1 - 1/(1+f) of the search data,
                              alpha on the rest (prime: 1); 0 = the 50/50 split */
    char arch_update[8];   /* adam | eg: alpha's update rule; eg = GAEA's exponentiated gradient
                              on the simplex (gaea, gaea-pcdarts, gaea-gdas; pcdarts, gdas) */
    double edge_lr;        /* eg with PC-DARTS' edge weights: EG lr of each node's edge simplex,
                              their own lr in GAEA (§B4; 0 = --arch-lr, the paper's 0.1 = 0.1) */
    char derive[16];       /* "" = the space's rule | edge_all (SNAS: every edge, argmax with
                              'none') */
    double drop_path_prob; /* RobustDARTS ScheduledDropPath: p * epoch / (epochs - 1) on every
                              mixed edge's output (0 = off) */
    volatile int *stop;    /* not a setting: when *stop becomes non-zero the search checkpoints
                              and returns DNAS_ERR_INTERRUPTED (SIGINT/SIGTERM in the CLI) */
    int resume;            /* not a setting: 1 = dnas_search_run continues the search in out_dir
                              from its checkpoint, whose stored configuration is used except for
                              threads (if > 0), data_dir and table (if not ""), progress,
                              max_steps and stop, which come from this struct */
    int data_n;            /* not settings: filled in by the run and kept in its checkpoint, so */
    uint32_t data_crc;     /* that a resume can tell whether --data is the same data set */
    uint32_t split_crc;    /* not a setting: the --split-file lists' checksum (0 = none) */
} dnas_search_config;

/* Defaults of the papers for `algo` (AutoDL DARTS-V1 / DARTS-V2 on NB201, ALGORITHMS.md §B1). */
DNAS_API dnas_status dnas_search_config_default(dnas_search_config *c, const char *algo);
/* A named set of settings: "quick" = the reduced CPU protocol (README: bench/quality.sh). */
DNAS_API dnas_status dnas_search_config_preset(dnas_search_config *c, const char *name);
/* Set one field by its name (e.g. "lr", "0.025"); errors name the key or the bad value. */
DNAS_API dnas_status dnas_search_config_set(dnas_search_config *c, const char *key,
                                            const char *value);
/* Print "  --name  (default)" for every settable field to `out` (a FILE *). */
DNAS_API void dnas_search_config_help(const dnas_search_config *c, void *out);

typedef struct {
    char arch[1024];       /* genotype of the final architecture (NB201: its arch string) */
    double train_acc, valid_acc, train_loss, valid_loss; /* last epoch's search metrics */
    int epochs_done;
    double seconds;
    char select[16];       /* the selection the configuration asks for (magnitude | pt) */
    char dir[512];         /* the run directory */
} dnas_search_result;

/* dnas_search_run starts a search in c->out_dir (refused if it already holds one), or with
 * c->resume = 1 continues the one there;
 * dnas_search_resume continues the one in dir from dir/checkpoint.dnas with the configuration
 * stored there (threads > 0 replaces its thread count). */
DNAS_API dnas_status dnas_search_run(const dnas_search_config *c, dnas_search_result *r);
DNAS_API dnas_status dnas_search_resume(const char *dir, int threads, volatile int *stop,
                                        int progress, dnas_search_result *r);

/* ---- training from scratch --------------------------------------------------------------- */
/* Trains the discrete network of a genotype from scratch (dnas train): DARTS's evaluation
 * protocol (NetworkCIFAR, ALGORITHMS.md §A3) or NB201's benchmark protocol (§A2), on all the
 * training images, testing on the test set after every epoch. Like the search, every field
 * can be set by name (dnas_train_config_set): the CLI's --flags, config.json and the
 * checkpoint's stored configuration all map onto it. */
typedef struct {
    char space[32];        /* darts | nb201 */
    char genotype[1024];   /* genotype text, or a published cell's name (darts: DARTS_V1,
                              DARTS_V2, PC_DARTS); set from a name, a file or the text itself */
    char dataset[32];      /* cifar10 | cifar100 */
    char data_dir[512];    /* official binary format directory ("" = $DNAS_DATA) */
    char out_dir[512];     /* run directory */
    int epochs, batch;
    int channels;          /* C (darts: 36, nb201: 16) */
    int cells;             /* darts: layers L (20); nb201: cells per stage N (5) */
    int threads;           /* CPU threads (0 = all cores) */
    uint64_t seed;
    double lr, lr_min, momentum, weight_decay, grad_clip;
    int nesterov;
    int auxiliary;         /* darts: auxiliary head after the 2nd reduction (training only) */
    double aux_weight;     /* its loss weight (0.4) */
    double drop_path;      /* darts: final drop-path probability, ramped p = drop_path*epoch/epochs */
    int cutout;            /* cutout square side (16; 0 = off) */
    int train_images;      /* 0 = all 50k; k = the first k (short runs) */
    int test_images;       /* 0 = all 10k; k = the first k (short runs) */
    int log_every;         /* steps between log.jsonl step lines */
    int ckpt_every;        /* steps between checkpoints (0 = only at each epoch's end) */
    int progress;          /* progress line on stderr: 1 on, 0 off, -1 if stderr is a terminal */
    int max_steps;         /* stop (with a checkpoint) after this many steps in this process and
                              return DNAS_ERR_INTERRUPTED (training incomplete); 0 = none */
    volatile int *stop;    /* not a setting: non-zero -> checkpoint, DNAS_ERR_INTERRUPTED */
    int resume;            /* not a setting: 1 = continue the run in out_dir from its checkpoint
                              with its stored configuration, except threads (if > 0), data_dir
                              (if not ""), progress, max_steps and stop; a non-empty space or
                              genotype here must match the stored one */
    int data_n;            /* not settings: the data set's fingerprint, kept in the checkpoint */
    uint32_t data_crc;
} dnas_train_config;

/* The protocol of `space`: "darts" (§A3: C 36, 20 layers, aux 0.4, drop path 0.2, cutout 16,
 * SGD lr 0.025 momentum 0.9 wd 3e-4, cosine to 0, clip 5, batch 96, 600 epochs, seed 0) or
 * "nb201" (§A2: C 16, N 5, SGD Nesterov lr 0.1 momentum 0.9 wd 5e-4, cosine to 0, batch 256,
 * 200 epochs, seed 777). NULL or "" leaves space empty (a resume request) with darts values. */
DNAS_API dnas_status dnas_train_config_default(dnas_train_config *c, const char *space);
/* Set one field by name ("lr", "0.025"; flags' '-' = '_'; "out" and "data" are short for
 * out_dir and data_dir). "genotype" takes a published name, a path to a file holding the
 * text (e.g. a search's genotype.txt) or the text itself, and checks it against c->space
 * (when set). Errors name the flag. */
DNAS_API dnas_status dnas_train_config_set(dnas_train_config *c, const char *key,
                                           const char *value);
/* Print "  --name  help [default]" for every settable field to `out` (a FILE *). */
DNAS_API void dnas_train_config_help(const dnas_train_config *c, void *out);
/* The space a --genotype value (name, file or text) most likely belongs to: "nb201" for an
 * arch string ('|' first), else "darts". Fails only when a file named by it cannot be read. */
DNAS_API dnas_status dnas_train_guess_space(const char *genotype, char *space, size_t cap);

typedef struct {
    double train_loss, train_acc;  /* last epoch, main head, with augmentation */
    double test_loss, test_acc;    /* last epoch's test */
    double best_test_acc;          /* best test accuracy over the epochs, and its epoch */
    int best_epoch;                /* (0-based; -1 if no epoch finished) */
    int epochs_done;
    double seconds;
    char dir[512];
} dnas_train_result;

/* dnas_train_run trains in c->out_dir (refused if it holds a run already; nothing is created
 * when the configuration, the genotype or the data is bad), or with c->resume = 1 continues
 * the run there. Writes config.json, log.jsonl, checkpoint.dnas and, at the end, result.json. */
DNAS_API dnas_status dnas_train_run(const dnas_train_config *c, dnas_train_result *r);
DNAS_API dnas_status dnas_train_resume(const char *dir, int threads, volatile int *stop,
                                       int progress, dnas_train_result *r);

typedef struct {
    size_t n_weights;      /* trainable weights without the auxiliary head */
    size_t n_aux_weights;  /* the auxiliary head's (0 without one) */
    size_t n_buffers;      /* BN running statistics */
    size_t peak_bytes;     /* planned activation + gradient arena for c->batch */
    int n_nodes;
} dnas_train_net_info;
/* Builds the network of c->genotype (c->space, channels, cells, batch, auxiliary, drop_path)
 * and reports its sizes, without data or a run directory. */
DNAS_API dnas_status dnas_train_net_info_get(const dnas_train_config *c, dnas_train_net_info *out);

/* ---- NAS-Bench-201 table ----------------------------------------------------------------- */
typedef struct {
    int index;
    double c10_valid, c10_test, c100_valid, c100_test, in16_valid, in16_test;
} dnas_nb201_result;
/* ---- selection --------------------------------------------------------------------------- */
typedef struct {
    char method[16];       /* magnitude | pt */
    char dir[512];         /* a finished search's run directory */
    char data_dir[512];    /* "" = the search's */
    char table[512];       /* "" = the search's; the benchmark lookup of the result */
    int threads;           /* 0 = the search's */
    int progress;
    volatile int *stop;    /* as in dnas_search_config */
} dnas_select_config;
typedef struct {
    char arch[1024];       /* the selected genotype */
    int has_bench;         /* 1 when a benchmark table answered: */
    dnas_nb201_result bench;
    double seconds;
} dnas_select_result;
/* Selects the final architecture of the search in c->dir; pt checkpoints to
 * DIR/select-pt.dnas after each decision and resumes from it; the result goes to
 * DIR/genotype-<method>.txt and DIR/select-<method>.jsonl. */
DNAS_API dnas_status dnas_select_run(const dnas_select_config *c, dnas_select_result *r);

/* ---- benchmark --------------------------------------------------------------------------- */
typedef struct {
    dnas_search_config search; /* space, algo, dataset, batch, channels, cells, image,
                                  track_bn, threads, seed and the optimiser settings are used */
    int warmup, steps;
} dnas_bench_config;
typedef struct {
    double ms_median, ms_min, ms_max;
    double ms_mean;  /* differs from the median for methods whose arch step runs every k-th step */
    int steps;
    double gflop_step; /* GFLOP per step, counted by the graph over the timed steps (mean);
                          0 where not counted (dnas_bench_train) */
    int flops_constant; /* 1: every timed step computed the same FLOPs */
} dnas_bench_result;
/* Times full search steps (weight step + arch step) on random data. */
DNAS_API dnas_status dnas_bench_step(const dnas_bench_config *c, dnas_bench_result *r);

/* FLOPs of one search step of a configuration, from its graph (no data, nothing run): each op
 * counts what its kernels compute (multiply-add = 2), at the configured batch, for the graph
 * passes the strategy makes (src/search/bench.c lists them per method). */
typedef struct {
    double forward;                 /* one training-mode forward */
    double backward_weights;        /* a backward wanting the weights' gradient */
    double backward_arch;           /* a backward wanting the mixing weights' gradient only */
    double backward_both;           /* a backward wanting both */
    double weight_step, arch_step;  /* per search step (an arch step every k-th: its 1/k) */
    double step;                    /* weight_step + arch_step */
    char passes[160];               /* the passes counted, e.g. "weight F+Bw, arch F+Ba" */
} dnas_step_flops;
DNAS_API dnas_status dnas_search_flops(const dnas_search_config *c, dnas_step_flops *out);

/* Peak single-precision throughput: a register-blocked multiply-add loop (the widest FMA this
 * CPU runs: AVX-512 if it has it, else AVX2 when built for it, else portable vector code) on
 * `threads` threads (1 without OpenMP) for about `seconds`, best of 3. *used = the threads
 * that ran. */
DNAS_API dnas_status dnas_bench_peak(int threads, double seconds, double *gflops, int *used);
/* The same loop for one instruction set: "avx2" or "portable" (what this build's kernels are
 * compiled for), "avx512" (512-bit FMAs, where the CPU has them, whatever the build), or
 * NULL / "best" = the widest this CPU runs, which is what dnas_bench_peak measures: the
 * machine's peak, not the build's. */
DNAS_API dnas_status dnas_bench_peak_for(int threads, double seconds, const char *isa,
                                         double *gflops, int *used);
/* The instruction set dnas_bench_peak measures here ("avx512", "avx2" or "portable"). */
DNAS_API const char *dnas_bench_peak_isa(void);
/* The vector width this build's CPU kernels are compiled for ("avx2" or "portable"). */
DNAS_API const char *dnas_cpu_simd(void);
/* The vector width the dense convolution kernels run at here: "avx512" where this build has
 * the AVX-512 kernels and the CPU runs them (DNAS_CPU_ISA=avx2 forces the 8-lane ones; both
 * give bit-identical results), else dnas_cpu_simd(). */
DNAS_API const char *dnas_cpu_conv_isa(void);
/* Whether `device` ("cpu" or "cuda") can be used here; on success *desc (cap bytes) names it.
 * "cuda" loads libcudart at run time and fails with "cuda: no CUDA device
 * (cudaGetDeviceCount: ...)" when there is none; every build answers, CUDA-built or not. */
DNAS_API dnas_status dnas_device_check(const char *device, char *desc, size_t cap);
/* Times training steps of a genotype's network (drop path at c->drop_path, the auxiliary head
 * when c->auxiliary, clip, SGD) on random data: what one step of `dnas train` costs. */
DNAS_API dnas_status dnas_bench_train(const dnas_train_config *c, int warmup, int steps,
                                      dnas_bench_result *r);

/* ---- report ------------------------------------------------------------------------------ */
/* One self-contained HTML page of a run directory (charts of losses and accuracies, mixing
 * weights per edge over epochs, the derived cell, and for NB201 the table accuracy of the arch
 * derived at each epoch): DIR/report.html, or out_path. table_path NULL = config.json's
 * "table" when readable. Bad input: a message naming file:line, nothing written. */
DNAS_API dnas_status dnas_report_write(const char *run_dir, const char *table_path,
                                       const char *out_path);

/* Looks `arch` up in the table file `path` (shared/data/nb201 layout). */
DNAS_API dnas_status dnas_nb201_query(const char *path, const char *arch, dnas_nb201_result *r);

/* ---- export ------------------------------------------------------------------------------ */
#ifndef DNAS_VERSION
#define DNAS_VERSION "0.1.0"
#endif
enum { DNAS_EXPORT_UNTRAINED = 1 }; /* fresh weights; needed for a search's derived genotype */
typedef struct {
    char space[32];
    char genotype[1024];   /* the exported genotype, as genotype.txt holds it */
    size_t n_weights;      /* weights without the auxiliary head */
    size_t n_aux_weights;  /* the auxiliary head's (0 without one) */
    size_t n_buffers;      /* BN running statistics */
    int trained;           /* 0: freshly initialised (DNAS_EXPORT_UNTRAINED) */
    int epochs;            /* epochs the run had finished */
    long steps;            /* its training steps */
    char inputs[512];      /* what the check batch holds */
} dnas_export_result;
/* The network of the `dnas train` run in `dir` as a standalone PyTorch module in directory
 * `out` (created; refused if it exists and is not empty): model.py (build(), load(),
 * verify()), weights.safetensors (keys = the module's state_dict() keys), genotype.txt, and
 * check.safetensors (8 inputs and dnas's eval-mode logits for them). With
 * DNAS_EXPORT_UNTRAINED the weights are freshly initialised; then `dir` may also be a finished
 * search, whose genotype.txt is exported as the space's evaluation network (dnas train's
 * defaults); without it a search directory is refused. r may be NULL. Nothing is left in
 * `out` on failure. */
DNAS_API dnas_status dnas_export_pytorch(const char *dir, const char *out, unsigned flags,
                                         dnas_export_result *r);

/* ---- embedding: version, log callback, heap configuration, step-level search sessions ---- */
/* What a binding (python/dnas over ctypes) needs: nothing here asks the caller to know the
 * size or layout of dnas_search_config, and a session drives the very loop that
 * dnas_search_run runs, so the same seed and thread count give a bit-identical search. */
#define DNAS_VERSION_MAJOR 0
#define DNAS_VERSION_MINOR 1
#define DNAS_VERSION_PATCH 0
#define DNAS_VERSION_STRING "0.1.0"
/* The library's version, "MAJOR.MINOR.PATCH" (that of the loaded libdnas, not of this header). */
DNAS_API const char *dnas_version(void);

/* Every message a search prints (progress line, epoch lines, warnings, "search done", the
 * selection's decisions) goes to `fn` as one line without its newline, instead of stderr.
 * PROGRESS is the transient progress line (only with progress on). Process-wide, like the
 * allocator: set it before starting searches, not while one runs; NULL restores stderr. `fn`
 * runs on the thread that calls the search. */
typedef enum { DNAS_LOG_INFO = 0, DNAS_LOG_WARNING, DNAS_LOG_PROGRESS } dnas_log_level;
typedef void (*dnas_log_fn)(void *user, dnas_log_level level, const char *line);
DNAS_API void dnas_set_log_callback(dnas_log_fn fn, void *user);

/* A heap configuration with the defaults of `algo` (NULL = darts1's), for callers that set
 * every field by name (dnas_search_config_set, _preset). Free with dnas_search_config_free. */
DNAS_API dnas_status dnas_search_config_new(const char *algo, dnas_search_config **out);
DNAS_API void dnas_search_config_free(dnas_search_config *c);
/* The configuration as config.json holds it, into buf (fails if cap is too small). */
DNAS_API dnas_status dnas_search_config_json(const dnas_search_config *c, char *buf, size_t cap);

/* A search driven a step at a time. Open creates the run directory exactly as
 * dnas_search_run does (config.json, the initial checkpoint, the lock) or, with c->resume = 1,
 * continues the one in c->out_dir; open_resume continues the search in dir with its stored
 * configuration (threads > 0 replaces the thread count; progress line off). */
typedef struct dnas_session dnas_session;
DNAS_API dnas_status dnas_session_open(const dnas_search_config *c, dnas_session **out);
DNAS_API dnas_status dnas_session_open_resume(const char *dir, int threads, dnas_session **out);
/* Runs n more steps (fewer if the search ends first), each with what dnas_search_run does
 * after it: log lines, an epoch's end (alphas.jsonl, genotype.txt, eigenvalue, RobustDARTS'
 * stop or roll back, checkpoint), --ckpt-every checkpoints; a stop request (c->stop,
 * dnas_session_interrupt, --max-steps) checkpoints and returns DNAS_ERR_INTERRUPTED. After
 * any other error the session can only be closed (resume it from its checkpoint). */
DNAS_API dnas_status dnas_session_step(dnas_session *h, long n);
/* The steps left in the current epoch, its end included. */
DNAS_API dnas_status dnas_session_run_epoch(dnas_session *h);
/* Asks a step call in progress (or the next) to stop after its current step; callable from
 * another thread or a signal handler. */
DNAS_API void dnas_session_interrupt(dnas_session *h);
/* Position of the next step: epoch (0-based; = epochs when done), step within it. */
DNAS_API int dnas_session_epoch(const dnas_session *h);
DNAS_API int dnas_session_epoch_step(const dnas_session *h);
DNAS_API long dnas_session_total_steps(const dnas_session *h);
DNAS_API int dnas_session_steps_per_epoch(const dnas_session *h);
DNAS_API int dnas_session_epochs(const dnas_session *h);
DNAS_API int dnas_session_done(const dnas_session *h);
/* The absolute run directory, and the configuration in effect (resume: the stored one). */
DNAS_API const char *dnas_session_dir(const dnas_session *h);
DNAS_API const dnas_search_config *dnas_session_config(const dnas_session *h);
/* Alpha is groups matrices of rows (edges) x cols (ops); n must be groups*rows*cols. GAEA
 * keeps theta there; PC-DARTS' edge weights beta are not part of it. set_alpha takes effect
 * from the next step (the optimiser state is kept) and refuses non-finite values. */
DNAS_API void dnas_session_alpha_shape(const dnas_session *h, int *groups, int *rows, int *cols);
DNAS_API dnas_status dnas_session_get_alpha(const dnas_session *h, float *out, size_t n);
DNAS_API dnas_status dnas_session_set_alpha(dnas_session *h, const float *in, size_t n);
/* The architecture weights the logs hold and the genotype is derived from (softmax(alpha),
 * GAEA's theta, ...; 0 for non-candidate ops), n = groups*rows*cols. */
DNAS_API dnas_status dnas_session_get_weights(const dnas_session *h, float *out, size_t n);
/* Genotype text of the current architecture weights. */
DNAS_API dnas_status dnas_session_genotype(const dnas_session *h, char *buf, size_t cap);
/* A checkpoint of the state now (resumable, bit-identical as a --ckpt-every one). */
DNAS_API dnas_status dnas_session_save(dnas_session *h);
/* The end of a finished search, as dnas_search_run ends it: the result (and "search done"),
 * the --table lookup and its log line; then, when the configuration says --select pt, the
 * DARTS-PT selection (dnas_select_run) into sel (sel->arch "" when none ran; sel may be NULL).
 * Fails on a search not yet at its end. Repeated calls return the same result. */
DNAS_API dnas_status dnas_session_finish(dnas_session *h, dnas_search_result *r,
                                         dnas_select_result *sel);
/* Frees everything and releases the run directory (NULL is fine). An unfinished search stays
 * resumable from its last checkpoint. */
DNAS_API void dnas_session_close(dnas_session *h);

#ifdef __cplusplus
}
#endif
#endif
