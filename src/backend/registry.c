/*
 * registry.c — opening a device by name: "cpu", "cuda" or "auto" (best device, else the CPU).
 *
 * The CUDA backend lives in a plugin, libctrain_cuda.so, next to libctrain.so. It is loaded with
 * dlopen() only when CUDA is asked for, so a machine without the CUDA libraries or without an
 * NVIDIA driver runs the same binary on the CPU, and the reason CUDA was not used is kept for
 * the user (ct_cuda_unavailable_reason).
 */
#define _GNU_SOURCE
#include "backend/backend.h"
#include "core/core.h"

#include <dlfcn.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CT_CUDA_PLUGIN_NAME "libctrain_cuda.so"

static pthread_mutex_t g_plugin_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_plugin;              /* dlopen handle, kept for the process's lifetime */
static char g_cuda_reason[512];     /* why CUDA was not used ("" when it was) */

/* Path of the plugin: $CTRAIN_CUDA_PLUGIN, else next to libctrain.so. */
static void plugin_path(char *out, size_t bytes) {
    const char *env = getenv("CTRAIN_CUDA_PLUGIN");
    if (env && *env) {
        snprintf(out, bytes, "%s", env);
        return;
    }
    Dl_info info;
    if (dladdr((void *)plugin_path, &info) && info.dli_fname) {
        char copy[4096];
        snprintf(copy, sizeof copy, "%s", info.dli_fname);
        snprintf(out, bytes, "%s/%s", dirname(copy), CT_CUDA_PLUGIN_NAME);
        return;
    }
    snprintf(out, bytes, "%s", CT_CUDA_PLUGIN_NAME);
}

/* Is there an NVIDIA driver at all? Checked before loading the plugin, because loading it pulls
 * in cuBLAS (~160 MB resident, ~1 s) only to find out there is no driver. */
static ct_status probe_driver(void) {
    void *h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
    if (!h) return ct_fail(CT_ERR_DEVICE, "no NVIDIA driver found (libcuda.so.1 cannot be loaded)");
    dlclose(h);
    return CT_OK;
}

/* Loads the plugin once; on failure sets the error and g_cuda_reason. */
static ct_status load_plugin(void) {
    pthread_mutex_lock(&g_plugin_lock);
    ct_status s = CT_OK;
    if (!g_plugin) {
        char path[4096];
        plugin_path(path, sizeof path);
        const char *env = getenv("CTRAIN_CUDA_PLUGIN");
        if (access(path, F_OK) != 0) {
            s = env && *env ? ct_fail(CT_ERR_DEVICE, "CTRAIN_CUDA_PLUGIN=%s: no such file", env)
                            : ct_fail(CT_ERR_UNSUPPORTED, "ctrain was built without CUDA (no %s)",
                                      path);
        } else if ((env && *env) || (s = probe_driver()) == CT_OK) {
            /* a plugin named explicitly (the CUDA emulator of tests/cuda_emu, say) is loaded
             * as it is: the real one reports a missing driver itself */
            g_plugin = dlopen(path, RTLD_NOW | RTLD_LOCAL);
            if (!g_plugin) {
                const char *why = dlerror();
                s = ct_fail(CT_ERR_DEVICE, "cannot load the CUDA backend: %s", why ? why : path);
            }
        }
    }
    pthread_mutex_unlock(&g_plugin_lock);
    if (s != CT_OK) snprintf(g_cuda_reason, sizeof g_cuda_reason, "%s", ct_last_error());
    return s;
}

/* The loaded plugin's entry points, once its op table is found to be this build's; on failure
 * sets the error and g_cuda_reason. */
static ct_status plugin_entries(ct_cuda_open_fn *open_fn, ct_cuda_list_fn *list) {
    CT_TRY(load_plugin());
    *open_fn = (ct_cuda_open_fn)dlsym(g_plugin, CT_CUDA_OPEN_SYMBOL);
    *list = (ct_cuda_list_fn)dlsym(g_plugin, CT_CUDA_LIST_SYMBOL);
    const ct_cuda_table_fn table = (ct_cuda_table_fn)dlsym(g_plugin, CT_CUDA_TABLE_SYMBOL);
    char path[4096];
    plugin_path(path, sizeof path);
    ct_status s = CT_OK;
    if (!*open_fn || !*list)
        s = ct_fail(CT_ERR_DEVICE, "the CUDA plugin lacks %s%s%s (not a ctrain plugin?)",
                    !*open_fn ? CT_CUDA_OPEN_SYMBOL : "", !*open_fn && !*list ? " and " : "",
                    !*list ? CT_CUDA_LIST_SYMBOL : "");
    else if (!table)
        s = ct_fail(CT_ERR_DEVICE, "the CUDA plugin %s lacks %s: it is from an older build of "
                    "ctrain (rebuild it: make)", path, CT_CUDA_TABLE_SYMBOL);
    else if (table() != sizeof(ct_backend))
        s = ct_fail(CT_ERR_DEVICE, "the CUDA plugin %s is from another build of ctrain (its op "
                    "table %zu bytes, this one's %zu): rebuild it (make)", path, table(),
                    sizeof(ct_backend));
    if (s != CT_OK) {
        *open_fn = NULL, *list = NULL;
        snprintf(g_cuda_reason, sizeof g_cuda_reason, "%s", ct_last_error());
    }
    return s;
}

/* Opens GPU `device`; device < 0: GPU (-1 - device) modulo the number of GPUs (a rank's GPU).
 * *broken (may be NULL) is set when the plugin itself could not be used (rather than no GPU). */
static ct_status open_cuda(int device, ct_backend **out, int *broken) {
    ct_cuda_open_fn open_fn;
    ct_cuda_list_fn list;
    ct_status s = plugin_entries(&open_fn, &list);
    if (broken) *broken = s != CT_OK && g_plugin != NULL; /* loaded, but not a ctrain plugin */
    if (s != CT_OK) {
        const char *env = getenv("CTRAIN_CUDA_PLUGIN");
        if (broken && env && *env) *broken = 1; /* one named, and it cannot be used */
        return s;
    }
    if (device < 0) {
        int count = list(NULL, 0);
        device = count > 0 ? (-1 - device) % count : 0; /* none: open reports it */
    }
    s = open_fn(device, out);
    if (s != CT_OK) snprintf(g_cuda_reason, sizeof g_cuda_reason, "%s", ct_last_error());
    else g_cuda_reason[0] = 0;
    return s;
}

/* "cuda:N" -> N (0 <= N < 10^6), else -1. */
static int cuda_ordinal(const char *name) {
    if (strncmp(name, "cuda:", 5) != 0) return -1;
    const char *d = name + 5;
    size_t n = strspn(d, "0123456789");
    if (n == 0 || n > 6 || d[n]) return -1;
    return atoi(d);
}

ct_status ct_backend_create(const char *name, int threads, ct_backend **out) {
    return ct_backend_create_local(name, threads, 0, out);
}

ct_status ct_backend_create_local(const char *name, int threads, int local_rank,
                                  ct_backend **out) {
    *out = NULL;
    if (local_rank < 0)
        return ct_fail(CT_ERR_INVALID, "local rank must be >= 0, got %d", local_rank);
    if (!name || !strcmp(name, "cpu")) return ct_cpu_backend_create(threads, out);
    int ordinal = cuda_ordinal(name);
    if (!strcmp(name, "cuda") || ordinal >= 0) {
        ct_status s = open_cuda(ordinal >= 0 ? ordinal : -1 - local_rank, out, NULL);
        if (s != CT_OK) return ct_fail_context(s, "--device %s", name);
        (*out)->threads = threads;
        return CT_OK;
    }
    if (!strcmp(name, "auto")) {
        int broken = 0;
        ct_status s = open_cuda(-1 - local_rank, out, &broken);
        if (s == CT_OK) {
            (*out)->threads = threads;
            return CT_OK;
        }
        if (broken) /* a plugin asked for, or installed, that cannot be used: not "no GPU" */
            return ct_fail_context(s, "--device auto");
        ct_clear_error();
        return ct_cpu_backend_create(threads, out);
    }
    return ct_fail(CT_ERR_INVALID, "unknown device \"%s\" (expected auto, cpu, cuda or cuda:N)",
                   name);
}

void ct_backend_free(ct_backend *b) {
    if (b) b->destroy(b);
}

const char *ct_backend_name(const ct_backend *b) { return b->name; }

int ct_backend_shards(const ct_backend *b) {
    int n = b->host_is_device && b->threads > 1 ? b->threads : 1;
    return n < CT_MAX_THREADS ? n : CT_MAX_THREADS;
}
const char *ct_backend_description(const ct_backend *b) { return b->description; }
const char *ct_cuda_unavailable_reason(void) { return g_cuda_reason; }

ct_status ct_devices_list(char *buf, size_t bytes) {
    if (!buf || bytes < 2)
        return ct_fail(CT_ERR_INVALID, "ct_devices_list: a buffer of %zu bytes at %p", bytes,
                       (void *)buf);
    ct_backend *cpu = NULL;
    CT_TRY(ct_cpu_backend_create(0, &cpu));
    int n = snprintf(buf, bytes, "cpu     %s\n", cpu->description);
    ct_backend_free(cpu);
    size_t used = n > 0 && (size_t)n < bytes ? (size_t)n : bytes - 1;
    ct_cuda_open_fn open_fn;
    ct_cuda_list_fn list;
    if (plugin_entries(&open_fn, &list) != CT_OK) {
        snprintf(buf + used, bytes - used, "cuda    not available: %s\n", g_cuda_reason);
        return CT_OK;
    }
    int count = list(buf + used, bytes - used);
    if (count < 0) {
        snprintf(g_cuda_reason, sizeof g_cuda_reason, "%s", ct_last_error());
        snprintf(buf + used, bytes - used, "cuda    not available: %s\n", g_cuda_reason);
    } else if (count == 0) {
        snprintf(buf + used, bytes - used, "cuda    no CUDA-capable GPU found\n");
    }
    return CT_OK;
}

ct_status ct_groupnorm_check(const char *op, int64_t n, int64_t c, int64_t inner,
                             int64_t groups) {
    if (n < 0 || c <= 0 || c > INT32_MAX || inner <= 0 || groups <= 0 || c % groups ||
        n * groups > INT32_MAX)
        return ct_fail(CT_ERR_INVALID, "%s: bad shape (%lld, %lld, %lld) in %lld groups", op,
                       (long long)n, (long long)c, (long long)inner, (long long)groups);
    return CT_OK;
}

ct_status ct_seq_check(const char *op, int64_t a, int64_t b, int64_t c) {
    if (a < 0 || b < 0 || c < 0)
        return ct_fail(CT_ERR_INVALID, "%s: negative size (%lld, %lld, %lld)", op, (long long)a,
                       (long long)b, (long long)c);
    return CT_OK;
}

ct_status ct_copy2d_check(int64_t ldd, int64_t lds, int64_t rows, int64_t cols) {
    CT_TRY(ct_seq_check("copy2d", rows, cols, lds));
    if (rows > 0 && cols > 0 && ldd < cols)
        return ct_fail(CT_ERR_INVALID, "copy2d: row stride %lld under the %lld columns",
                       (long long)ldd, (long long)cols);
    return CT_OK;
}

ct_status ct_gather_u8_check(const ct_augment *aug, int64_t row, const ct_step_vars *sv) {
    if (!aug) return CT_OK;
    if ((int64_t)aug->c * aug->h * aug->w != row)
        return ct_fail(CT_ERR_INVALID, "gather_u8: augmenting images of (%d, %d, %d) but rows "
                       "have %lld values", aug->c, aug->h, aug->w, (long long)row);
    if (aug->mix && (!sv || aug->mix_rows < 1))
        return ct_fail(CT_ERR_INVALID, "gather_u8: mixing rows needs the step's sv and the "
                       "batch's rows");
    if (aug->aa) {
        const int bins_ok = aug->aa == CT_AA_AUTO || aug->aa == CT_AA_AUGMIX ||
                            (aug->aa_bins >= 2 && aug->aa_bins <= CT_MAX_TA_BINS);
        const int rand_ok = aug->aa != CT_AA_RAND ||
                            (aug->aa_ops >= 1 && aug->aa_ops <= CT_MAX_RA_OPS &&
                             aug->aa_mag >= 0 && aug->aa_mag < aug->aa_bins);
        const int auto_ok = aug->aa != CT_AA_AUTO || (aug->aa_policy >= CT_AUTOAUGMENT_IMAGENET &&
                                                      aug->aa_policy <= CT_AUTOAUGMENT_SVHN);
        const int mix_ok = aug->aa != CT_AA_AUGMIX ||
                           (aug->aa_severity >= 1 && aug->aa_severity <= CT_AUGMIX_BINS &&
                            aug->aa_width >= 1 && aug->aa_width <= CT_AA_MAX_CHAINS &&
                            (aug->aa_depth == -1 ||
                             (aug->aa_depth >= 1 && aug->aa_depth <= CT_MAX_AUGMIX_DEPTH)) &&
                            aug->aa_alpha > 0.0f && aug->aa_alpha <= CT_MAX_AUGMIX_ALPHA);
        const char *name = aug->aa == CT_AA_TRIVIAL ? "TrivialAugmentWide"
                           : aug->aa == CT_AA_RAND  ? "RandAugment"
                           : aug->aa == CT_AA_AUTO  ? "AutoAugment"
                           : aug->aa == CT_AA_AUGMIX ? "AugMix"
                                                    : "an unknown automatic augmentation";
        if (aug->aa < CT_AA_TRIVIAL || aug->aa > CT_AA_AUGMIX || !bins_ok || !rand_ok ||
            !auto_ok || !mix_ok || (aug->c != 1 && aug->c != 3) || ct_augment_jitters(aug))
            return ct_fail(CT_ERR_INVALID, "gather_u8: %s (kind %d: %d bins, %d ops at bin %d, "
                           "policy %d, severity %d, %d chains of depth %d, alpha %g) on images "
                           "of %d channels%s (2 to %d bins, 1 to %d ops, policies 1 to 3, "
                           "AugMix's ranges, 1 or 3 channels, no colour jitter)", name, aug->aa,
                           aug->aa_bins, aug->aa_ops, aug->aa_mag, aug->aa_policy,
                           aug->aa_severity, aug->aa_width, aug->aa_depth,
                           (double)aug->aa_alpha, aug->c,
                           ct_augment_jitters(aug) ? " with colour jitter" : "", CT_MAX_TA_BINS,
                           CT_MAX_RA_OPS);
    }
    if (ct_augment_colours(aug) && aug->c > CT_JITTER_MAX_C)
        return ct_fail(CT_ERR_INVALID, "gather_u8: colour jitter or greyscale of images of %d "
                       "channels (at most %d)", aug->c, CT_JITTER_MAX_C);
    if (aug->aa && aug->grey_p > 0.0f)
        return ct_fail(CT_ERR_INVALID, "gather_u8: an automatic augmentation with random "
                       "greyscale");
    return CT_OK;
}
