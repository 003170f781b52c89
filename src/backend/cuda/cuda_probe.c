/* The one CUDA question every build can answer: is there a usable device? Plain C in libdnas
 * (no link to cudart): it loads libcudart at run time, so the CPU-only tool can say precisely
 * why `--device cuda` is refused, and a machine without the CUDA runtime is not a build or
 * load-time failure. The kernels themselves live in the .cu files (libdnas_cuda.a). */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
#include "../../core/status.h"

typedef int (*get_count_fn)(int *);
typedef const char *(*err_string_fn)(int);

dnas_status dnas_device_check(const char *device, char *desc, size_t cap) {
    if (desc && cap) desc[0] = 0;
    if (!device || !strcmp(device, "cpu")) {
        if (desc && cap) snprintf(desc, cap, "cpu");
        return DNAS_OK;
    }
    if (strcmp(device, "cuda"))
        return dnas_fail(DNAS_ERR_INVALID_ARG, "--device %s: give cpu or cuda", device);
    static const char *const libs[] = {"libcudart.so", "libcudart.so.13", "libcudart.so.12"};
    void *h = NULL;
    for (size_t i = 0; i < sizeof libs / sizeof libs[0] && !h; i++) h = dlopen(libs[i], RTLD_NOW);
    if (!h)
        return dnas_fail(DNAS_ERR_UNSUPPORTED,
                         "cuda: no CUDA runtime (dlopen libcudart.so: %s)", dlerror());
    get_count_fn count_fn = (get_count_fn)dlsym(h, "cudaGetDeviceCount");
    err_string_fn err_fn = (err_string_fn)dlsym(h, "cudaGetErrorString");
    if (!count_fn || !err_fn) {
        dlclose(h);
        return dnas_fail(DNAS_ERR_UNSUPPORTED, "cuda: libcudart lacks cudaGetDeviceCount");
    }
    int n = 0;
    const int e = count_fn(&n); /* cudaError_t is an int-sized enum; 0 = cudaSuccess */
    if (e != 0 || n <= 0) {
        dnas_status st = dnas_fail(DNAS_ERR_UNSUPPORTED, "cuda: no CUDA device (cudaGetDeviceCount: %s)",
                                   e != 0 ? err_fn(e) : "0 devices");
        dlclose(h);
        return st;
    }
    if (desc && cap) snprintf(desc, cap, "cuda (%d device%s)", n, n == 1 ? "" : "s");
    dlclose(h);
    return DNAS_OK;
}
