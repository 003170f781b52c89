/* The CUDA backend (issue #17), built only when nvcc is present, into $(BUILD)/libdnas_cuda.a.
 *
 * Pointer contract (differs from the CPU backend, whose pointers are host memory):
 *   - every tensor pointer handed to a kernel is DEVICE memory (cudaMalloc'd by the caller),
 *     including wsum's mixing weights m / dm and BN's statistics and running buffers;
 *   - the arrays that only describe the call stay on the HOST: wsum's x / dx pointer arrays
 *     (host arrays of device pointers) and its acc array;
 *   - xent's labels, *loss and *correct are HOST memory: labels are checked there with
 *     dnas_labels_check before any index is used, and the loss is what the host logs. xent_fwd
 *     therefore synchronises the backend's stream; every other kernel only enqueues on it.
 * All work runs on one cudaStream per backend, in call order, so consecutive kernels need no
 * synchronisation between them. Errors come back as dnas_status with a message naming the
 * CUDA / cuDNN / cuBLAS call that failed.
 *
 * Numerics: strict FP32 by default (cuDNN FMA math, cuBLAS default math) so that the parity
 * test can hold 1e-4 against the double reference; DNAS_CUDA_TF32=1 in the environment allows
 * TF32 tensor cores in conv and linear, as PyTorch does for convolutions by default. */
#ifndef DNAS_BACKEND_CUDA_H
#define DNAS_BACKEND_CUDA_H
#ifdef __cplusplus
extern "C" {
#endif
#include "../backend.h"

/* Creates a backend on CUDA device `device` (0-based). Fails with DNAS_ERR_UNSUPPORTED and
 * "cuda: no CUDA device (cudaGetDeviceCount: ...)" when the machine has none. */
dnas_status dnas_backend_cuda_create(int device, dnas_backend **out);

/* The backend's stream (a cudaStream_t), for callers that copy data in and out on it. */
void *dnas_cuda_stream(dnas_backend *be);
/* Waits for every kernel enqueued so far; reports an asynchronous failure naming `who`. */
dnas_status dnas_cuda_sync(dnas_backend *be, const char *who);

#ifdef __cplusplus
}
#endif
#endif
