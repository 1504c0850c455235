/*
 * dist.c — what the MPI and the no-MPI builds share: detecting a launch by mpirun, the public
 * ct_dist_* functions, the share of a batch each rank computes, the start-up check that every
 * rank was launched with the same settings (the device-buffer all-reduce is in dist_device.c).
 */
#include "dist/dist.h"
#include "core/core.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Settings texts longer than this are compared by hash only (no field-by-field message). */
#define CT_DIST_DESCRIBE_MAX_BYTES 4096

/* ------------------------------------------------------------------------------------------ */
/* launch detection                                                                            */

/* The first of vars that is set (and not empty) as a number in [0, 2^30), or -1 when none is
 * set or the first set is not such a number. */
static int env_count(const char *const *vars, size_t n) {
    for (size_t i = 0; i < n; i++) {
        const char *v = getenv(vars[i]);
        if (!v || !*v) continue;
        char *end;
        long k = strtol(v, &end, 10);
        return *end == 0 && k >= 0 && k < (1L << 30) ? (int)k : -1;
    }
    return -1;
}

/* Open MPI's mpirun (OMPI_COMM_WORLD_*), MPICH/Hydra and PMI-1/2 launchers (PMI_*,
 * MPI_LOCALRANKID), MVAPICH (MV2_COMM_WORLD_*) and PMIx launchers such as `srun --mpi=pmix`
 * (PMIX_RANK; no size). */
int ct_dist_launched(int *rank, int *local_rank) {
    static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE",
                                            "MV2_COMM_WORLD_SIZE"};
    static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK",
                                            "MV2_COMM_WORLD_RANK", "PMIX_RANK"};
    static const char *const local_vars[] = {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID",
                                             "MV2_COMM_WORLD_LOCAL_RANK"};
    int size = env_count(size_vars, sizeof size_vars / sizeof size_vars[0]);
    if (size < 0) size = 0; /* none, or not a number: as a plain run */
    if (!size && getenv("PMIX_RANK")) size = -1;
    if (size == 0) {
        if (rank) *rank = -1;
        if (local_rank) *local_rank = -1;
        return 0;
    }
    if (rank) *rank = env_count(rank_vars, sizeof rank_vars / sizeof rank_vars[0]);
    if (local_rank) *local_rank = env_count(local_vars, sizeof local_vars / sizeof local_vars[0]);
    return size;
}

ct_status ct_dist_init(ct_dist **out) {
    *out = NULL;
    int n = ct_dist_launched(NULL, NULL);
    if (n == 0 || n == 1) return CT_OK; /* a single process: MPI stays untouched */
    ct_dist *d = ct_calloc(1, sizeof *d, "ct_dist");
    if (!d) return CT_ERR_NOMEM;
    d->timeout_s = CT_DIST_TIMEOUT_S;
    ct_status s = ct_dist_transport_init(d, n);
    if (s != CT_OK) {
        free(d);
        return s;
    }
    if (d->size <= 1) { /* e.g. PMIx with one process */
        ct_dist_finalize(d);
        return CT_OK;
    }
    *out = d;
    return CT_OK;
}

void ct_dist_finalize(ct_dist *d) {
    if (!d) return;
    ct_dist_transport_finalize(d);
    free(d->staging);
    free(d->send_copy);
    free(d);
}

void ct_dist_abort(ct_dist *d, int exit_code) {
    if (!ct_dist_active(d) || d->shared_error) return;
    ct_dist_transport_abort(d, exit_code);
}

ct_status ct_dist_set_timeout(ct_dist *d, double seconds) {
    if (!(seconds >= 0.0 && seconds <= DBL_MAX)) /* NaN and infinity fail too */
        return ct_fail(CT_ERR_INVALID, "the ranks' timeout must be 0 (none) or a finite number "
                       "of seconds, not %g", seconds);
    if (d) d->timeout_s = seconds;
    return CT_OK;
}

ct_status ct_dist_reserve(void **buf, size_t *have, size_t bytes, const char *what) {
    if (*have >= bytes) return CT_OK;
    void *p = ct_malloc(bytes, what);
    if (!p) return CT_ERR_NOMEM;
    free(*buf);
    *buf = p;
    *have = bytes;
    return CT_OK;
}

int ct_dist_error_shared(const ct_dist *d) { return d ? d->shared_error : 0; }

double ct_dist_overdue_s(const ct_dist *d) {
    int64_t until = d ? atomic_load(&((ct_dist *)d)->waiting_until_us) : 0;
    double late = until > 0 ? ct_time_s() - (double)(until - 1) * 1e-6 : 0.0;
    return late > 0.0 ? late : 0.0;
}
int ct_dist_rank(const ct_dist *d) { return d ? d->rank : 0; }
int ct_dist_size(const ct_dist *d) { return d ? d->size : 1; }

int64_t ct_dist_largest_share(const ct_dist *d, int64_t n) {
    const int64_t size = ct_dist_size(d);
    return (n + size - 1) / size;
}
int ct_dist_local_rank(const ct_dist *d) { return d ? d->local_rank : 0; }
int ct_dist_local_size(const ct_dist *d) { return d ? d->local_size : 1; }
const char *ct_dist_description(const ct_dist *d) { return d ? d->description : "1 process"; }
const char *ct_dist_unavailable_reason(void) { return ct_dist_transport_unavailable(); }

/* ------------------------------------------------------------------------------------------ */
/* collectives                                                                                 */

void ct_dist_share(const ct_dist *d, int64_t n, int64_t *lo, int64_t *hi) {
    if (!ct_dist_active(d)) {
        *lo = 0;
        *hi = n;
        return;
    }
    *lo = (n * d->rank + d->size - 1) / d->size;
    *hi = (n * (d->rank + 1) + d->size - 1) / d->size;
}

ct_status ct_dist_allreduce_sum_f32(ct_dist *d, float *buf, int64_t n) {
    if (!ct_dist_active(d) || n <= 0) return CT_OK;
    return ct_dist_transport_allreduce(d, buf, n, 0);
}

ct_status ct_dist_allreduce_sum_f64(ct_dist *d, double *buf, int64_t n) {
    if (!ct_dist_active(d) || n <= 0) return CT_OK;
    return ct_dist_transport_allreduce(d, buf, n, 1);
}

ct_status ct_dist_any_within(ct_dist *d, int *flag, double timeout_s) {
    if (!ct_dist_active(d)) return CT_OK;
    int v = *flag != 0;
    CT_TRY(ct_dist_transport_max_int(d, &v, timeout_s));
    *flag = v;
    return CT_OK;
}

ct_status ct_dist_any(ct_dist *d, int *flag) {
    return ct_dist_any_within(d, flag, d ? d->timeout_s : 0.0);
}

ct_status ct_dist_failures(ct_dist *d, int failed, uint64_t reason, int *n_failed,
                           int *same_reason) {
    *n_failed = failed != 0;
    if (same_reason) *same_reason = 1;
    if (!ct_dist_active(d)) return CT_OK;
    uint64_t *all = ct_malloc((size_t)d->size * sizeof *all, "failures of the ranks");
    if (!all) return CT_ERR_NOMEM;
    /* one word per rank: 0, or the reason with its low bit set (failed) */
    ct_status s = ct_dist_allgather_u64(d, failed ? reason << 1 | 1 : 0, all);
    int n = 0, same = 1;
    for (int r = 0; s == CT_OK && r < d->size; r++) {
        n += (int)(all[r] & 1);
        same &= all[r] == all[0];
    }
    free(all);
    if (s != CT_OK) return s;
    *n_failed = n;
    if (same_reason) *same_reason = same;
    return CT_OK;
}

ct_status ct_dist_bcast(ct_dist *d, void *buf, size_t bytes, int root) {
    if (!ct_dist_active(d) || bytes == 0) return CT_OK;
    return ct_dist_transport_bcast(d, buf, bytes, root);
}

ct_status ct_dist_allgather_u64(ct_dist *d, uint64_t value, uint64_t *all) {
    if (!ct_dist_active(d)) {
        all[0] = value;
        return CT_OK;
    }
    return ct_dist_transport_allgather_u64(d, value, all);
}

/* ------------------------------------------------------------------------------------------ */
/* the start-up check                                                                          */

static int is_text(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return 0;
    return 1;
}

/* Whether the space-separated fields of t (n bytes) include f (len bytes); with by_name, a field
 * of the same name (up to '=') is enough, and *at is set to it. */
static int has_field(const char *t, size_t n, const char *f, size_t len, int by_name,
                     const char **at, size_t *at_len) {
    size_t name = by_name ? strcspn(f, "= ") : len;
    if (name > len) name = len;
    for (size_t k = 0; k < n;) {
        size_t e = k;
        while (e < n && t[e] != ' ') e++;
        if (by_name ? e - k >= name && !strncmp(t + k, f, name) && (e - k == name || t[k + name] == '=')
                    : e - k == len && !strncmp(t + k, f, len)) {
            if (at) *at = t + k, *at_len = e - k;
            return 1;
        }
        k = e + 1;
    }
    return 0;
}

/* The first field of a ("--flag=value") that b lacks, or else b's first that a lacks, with the
 * other rank's value of that flag: "rank 0 has \"--seed=42\", rank R has \"--seed=43\"" or
 * "... rank R has no --seed". */
static void describe_difference(const char *a, size_t na, const char *b, size_t nb, int r,
                                char *out, size_t out_bytes) {
    for (int pass = 0; pass < 2; pass++) {
        const char *x = pass ? b : a, *y = pass ? a : b;
        size_t nx = pass ? nb : na, ny = pass ? na : nb;
        for (size_t k = 0; k < nx;) {
            size_t e = k;
            while (e < nx && x[e] != ' ') e++;
            if (e > k && !has_field(y, ny, x + k, e - k, 0, NULL, NULL)) {
                const char *o = NULL;
                size_t olen = 0, name = strcspn(x + k, "= ");
                char other[160];
                if (has_field(y, ny, x + k, e - k, 1, &o, &olen))
                    snprintf(other, sizeof other, "\"%.*s\"", (int)(olen < 120 ? olen : 120), o);
                else
                    snprintf(other, sizeof other, "no %.*s", (int)(name < 120 ? name : 120), x + k);
                char mine[160];
                snprintf(mine, sizeof mine, "\"%.*s\"", (int)(e - k < 120 ? e - k : 120), x + k);
                if (pass) snprintf(out, out_bytes, "rank 0 has %s, rank %d has %s", other, r, mine);
                else snprintf(out, out_bytes, "rank 0 has %s, rank %d has %s", mine, r, other);
                return;
            }
            k = e + 1;
        }
    }
    snprintf(out, out_bytes, "the same fields, differently");
}

ct_status ct_dist_check_same(ct_dist *d, const void *bytes, size_t n, const char *what) {
    if (!ct_dist_active(d)) return CT_OK;
    uint64_t *all = ct_malloc((size_t)d->size * sizeof *all, "settings hashes");
    if (!all) return CT_ERR_NOMEM;
    ct_status s = ct_dist_allgather_u64(d, ct_hash64(bytes, n, 0), all);
    int bad = 0;
    for (int r = 1; s == CT_OK && r < d->size && !bad; r++)
        if (all[r] != all[0]) bad = r;
    free(all);
    if (s != CT_OK || !bad) return s;

    /* every rank knows that rank `bad` differs; fetch both texts to say how */
    char detail[512];
    uint64_t n0 = n, nb = n;
    snprintf(detail, sizeof detail, "they differ");
    CT_TRY(ct_dist_bcast(d, &n0, sizeof n0, 0));
    CT_TRY(ct_dist_bcast(d, &nb, sizeof nb, bad));
    if (n0 <= CT_DIST_DESCRIBE_MAX_BYTES && nb <= CT_DIST_DESCRIBE_MAX_BYTES) {
        char *t0 = ct_calloc(1, (size_t)n0 + 1, "settings"), *tb = ct_calloc(1, (size_t)nb + 1, "settings");
        if (!t0 || !tb) {
            free(t0);
            free(tb);
            return CT_ERR_NOMEM;
        }
        if (d->rank == 0) memcpy(t0, bytes, (size_t)n0);
        if (d->rank == bad) memcpy(tb, bytes, (size_t)nb);
        s = ct_dist_bcast(d, t0, (size_t)n0, 0);
        if (s == CT_OK) s = ct_dist_bcast(d, tb, (size_t)nb, bad);
        if (s == CT_OK && is_text(t0, (size_t)n0) && is_text(tb, (size_t)nb))
            describe_difference(t0, (size_t)n0, tb, (size_t)nb, bad, detail, sizeof detail);
        free(t0);
        free(tb);
        if (s != CT_OK) return s;
    }
    d->shared_error = 1;
    return ct_fail(CT_ERR_INVALID, "rank %d was launched with different settings than rank 0 "
                   "(%s: %s); every rank must run the same command on the same data", bad, what,
                   detail);
}
