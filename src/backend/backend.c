/* What is common to every backend: kernel family names for messages, the label check. */
#include "backend.h"

const char *dnas_kernel_name(dnas_kernel_kind k) {
    static const char *const names[DNAS_K_COUNT] = {
        [DNAS_K_CONV2D] = "conv2d", [DNAS_K_BN] = "bn",       [DNAS_K_RELU] = "relu",
        [DNAS_K_AVGPOOL] = "avgpool", [DNAS_K_MAXPOOL] = "maxpool", [DNAS_K_WSUM] = "wsum",
        [DNAS_K_GAP] = "gap",       [DNAS_K_LINEAR] = "linear", [DNAS_K_XENT] = "xent",
        [DNAS_K_CHANCOPY] = "chancopy", [DNAS_K_BN_RELU] = "bn_relu",
        [DNAS_K_CONCAT_RELU] = "concat_relu", [DNAS_K_LAZY_BN] = "lazy_bn",
        [DNAS_K_LAZY_POOL] = "lazy_pool",
    };
    return (int)k >= 0 && k < DNAS_K_COUNT && names[k] ? names[k] : "?";
}

dnas_status dnas_labels_check(const char *who, const int *labels, int n, int k) {
    if (n < 0 || k <= 0)
        return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: bad sizes n=%d k=%d", who, n, k);
    if (n > 0 && !labels) return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: labels is NULL", who);
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= k)
            return dnas_fail(DNAS_ERR_INVALID_ARG, "%s: label %d of row %d outside [0,%d)", who,
                             labels[i], i, k);
    return DNAS_OK;
}
