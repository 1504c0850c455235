/*
 * sweep_tpe.c — ctrain sweep --sampler tpe: the Tree-structured Parzen Estimator (Bergstra,
 * Bardenet, Bengio and Kégl, "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011), the
 * sampler Optuna uses by default, with Optuna's defaults.
 *
 * Once --tpe-startup trials have ended with a result (finished, pruned or diverged; drawn at
 * random until then), each new trial's values are drawn from what they taught: the trials are
 * ranked (finished ones by the objective, then the pruned and diverged ones), the best
 * gamma = min(ceil(0.1 n), 25) of the n are "good", the others "bad", and for each swept flag
 * on its own (Optuna's univariate TPE) a density l over the good values and g over the bad ones
 * is fitted: for a range, a mixture of normals truncated to it, one at each value and one broad
 * prior at its middle (log-scaled for a log range), each as wide as the larger gap to its
 * neighbours, clipped to [width / min(100, components + 1), width]; for a list, each value's
 * count plus a prior of 1 shared among them. Of 24 candidates drawn from l, the one of the
 * largest l / g is taken. Every trial weighs the same (Optuna weighs the older ones less once
 * there are more than 25).
 */
#include "sweep.h"
#include "cli.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define TPE_CANDIDATES 24 /* Optuna's n_ei_candidates */
#define TPE_MAX_GOOD 25   /* gamma's cap */

typedef struct {
    int n;
    double *mu, *sigma, *w; /* (n of each) */
    double a, b;            /* the range, as sampled (log, widened for whole numbers) */
} parzen;

static double normal_cdf(double z) { return 0.5 * erfc(-z / sqrt(2.0)); }

/* components at vals[0, m) plus the prior at the middle, each as wide as its larger gap to a
 * neighbour (the first's and the last's: to their one neighbour), clipped */
static int parzen_fit(parzen *p, const double *vals, int m, double a, double b) {
    p->n = m + 1;
    p->a = a;
    p->b = b;
    p->mu = malloc(3 * (size_t)p->n * sizeof(double));
    if (!p->mu) return -1;
    p->sigma = p->mu + p->n;
    p->w = p->sigma + p->n;
    double *mu = p->mu, width = b - a, mid = 0.5 * (a + b);
    for (int i = 0; i < m; i++) mu[i] = fmin(fmax(vals[i], a), b);
    for (int i = 1; i < m; i++) /* (insertion sort) */
        for (int j = i; j > 0 && mu[j - 1] > mu[j]; j--) {
            double t = mu[j];
            mu[j] = mu[j - 1];
            mu[j - 1] = t;
        }
    int prior = m; /* the prior's place among them */
    while (prior > 0 && mu[prior - 1] > mid) {
        mu[prior] = mu[prior - 1];
        prior--;
    }
    mu[prior] = mid;
    const double lo_sigma = width / fmin(100.0, 1.0 + p->n);
    for (int i = 0; i < p->n; i++) {
        double left = i > 0 ? mu[i - 1] : a, right = i + 1 < p->n ? mu[i + 1] : b;
        double s = fmax(mu[i] - left, right - mu[i]);
        if (p->n >= 2 && i == 0) s = mu[1] - mu[0];            /* (Optuna's */
        if (p->n >= 2 && i == p->n - 1) s = mu[i] - mu[i - 1]; /* consider_endpoints=False) */
        p->sigma[i] = i == prior ? width : fmin(fmax(s, lo_sigma), width);
        p->w[i] = 1.0;
    }
    return 0;
}

/* log of one component's density at x, truncated to [a, b] */
static double component_log_pdf(const parzen *p, int i, double x) {
    double s = p->sigma[i], z = (x - p->mu[i]) / s;
    double mass = normal_cdf((p->b - p->mu[i]) / s) - normal_cdf((p->a - p->mu[i]) / s);
    return log(p->w[i]) - 0.5 * z * z - log(s * sqrt(2 * M_PI)) - log(fmax(mass, 1e-300));
}

/* log of the mixture's density at x (log-sum-exp over its components) */
static double parzen_log_pdf(const parzen *p, double x) {
    double best = -INFINITY, sum = 0, wsum = 0;
    for (int i = 0; i < p->n; i++) {
        best = fmax(best, component_log_pdf(p, i, x));
        wsum += p->w[i];
    }
    for (int i = 0; i < p->n; i++) sum += exp(component_log_pdf(p, i, x) - best);
    return best + log(sum) - log(wsum);
}

/* a draw from the mixture: a component by weight, then its normal truncated to [a, b] */
static double parzen_sample(const parzen *p, uint64_t *rng) {
    double wsum = 0, u;
    for (int i = 0; i < p->n; i++) wsum += p->w[i];
    u = sweep_unit(rng) * wsum;
    int c = 0;
    while (c + 1 < p->n && (u -= p->w[c]) >= 0) c++;
    for (int tries = 0; tries < 1000; tries++) { /* (each component keeps >= 16% inside) */
        double u1 = sweep_unit(rng), u2 = sweep_unit(rng);
        double x = p->mu[c] + p->sigma[c] * sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
        if (x >= p->a && x <= p->b) return x;
    }
    return p->mu[c];
}

/* the observed value of trial t for flag f: as sampled (log, ...); NAN when not a number */
static double as_sampled(const sweep_flag *f, const char *v) {
    double x;
    if (cli_parse_double(v, &x) != 0) return NAN;
    return f->log_scale ? log(x) : x;
}

/* a trial TPE learns from: one that ended finished, pruned or diverged (the last two ranked
 * after the finished ones, so never "good"); not one that failed or was interrupted (a running
 * one's rc is -1) */
static int usable(const sweep_trial *t) {
    return (t->rc == 0 && t->best_epoch >= 0) || (t->rc > 0 && t->diverged);
}

int sweep_tpe_observed(const sweep_trial *tr, long n) {
    int m = 0;
    for (long k = 0; k < n; k++) m += usable(&tr[k]);
    return m;
}

int sweep_tpe_draw(sweep_spec *s, const sweep_trial *tr, long n, long k, int acc,
                   uint64_t seed) {
    int m = 0, *ord = malloc((size_t)n * sizeof *ord);
    double *vals = malloc(2 * (size_t)n * sizeof *vals);
    if (!ord || !vals) {
        free(ord);
        free(vals);
        return cli_error("sweep: out of memory");
    }
    /* the usable trials ranked: a stable insertion by sweep_better (a pruned or diverged
     * trial is never better than a finished one; the ties keep their order) */
    for (long j = 0; j < n; j++) {
        if (!usable(&tr[j])) continue;
        int i = m++;
        while (i > 0 && sweep_better(&tr[j], &tr[ord[i - 1]], acc)) {
            ord[i] = ord[i - 1];
            i--;
        }
        ord[i] = (int)j;
    }
    int good = (int)ceil(0.1 * m);
    if (good > TPE_MAX_GOOD) good = TPE_MAX_GOOD;
    if (good < 1) good = 1;
    int finished = 0;
    for (int i = 0; i < m; i++) finished += tr[ord[i]].rc == 0 && !sweep_was_pruned(&tr[ord[i]]);
    if (good > finished) good = finished; /* (good ones are finished ones) */
    int rc = CLI_EXIT_OK;
    uint64_t rng = seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(k + 1));
    for (int d = 0; good > 0 && d < s->ndims && rc == CLI_EXIT_OK; d++) {
        const sweep_flag *f = &s->flags[s->dims[d]];
        const size_t cell = (size_t)k * (size_t)s->ndims + (size_t)d;
        if (!f->range) { /* a list: counts plus a prior of 1 among its values */
            double l[SWEEP_MAX_VALUES], g[SWEEP_MAX_VALUES], lsum = 0;
            for (int j = 0; j < f->nvals; j++) l[j] = g[j] = 1.0 / f->nvals;
            for (int i = 0; i < m; i++) {
                const char *v = sweep_value_of(s, tr[ord[i]].combo, s->dims[d]);
                for (int j = 0; j < f->nvals; j++)
                    if (strcmp(v, f->vals[j]) == 0) (i < good ? l : g)[j] += 1;
            }
            for (int j = 0; j < f->nvals; j++) lsum += l[j];
            double gsum = m - good + 1.0, best_score = -INFINITY;
            int pick = 0;
            for (int c = 0; c < TPE_CANDIDATES; c++) {
                double u = sweep_unit(&rng) * lsum;
                int j = 0;
                while (j + 1 < f->nvals && (u -= l[j]) >= 0) j++;
                double score = log(l[j] / lsum) - log(g[j] / gsum);
                if (score > best_score) best_score = score, pick = j;
            }
            s->drawn[cell] = f->vals[pick];
            continue;
        }
        double a = f->lo, b = f->hi;
        if (f->integer) a -= 0.5, b += 0.5; /* (each whole number's share) */
        if (f->log_scale) a = log(a), b = log(b);
        int ng = 0, nb = 0;
        for (int i = 0; i < m; i++) {
            double x = as_sampled(f, sweep_value_of(s, tr[ord[i]].combo, s->dims[d]));
            if (!isfinite(x)) continue;
            if (i < good) vals[ng++] = x;
            else vals[n + nb++] = x;
        }
        parzen l, g;
        if (parzen_fit(&l, vals, ng, a, b) != 0 || parzen_fit(&g, vals + n, nb, a, b) != 0) {
            free(l.mu);
            rc = cli_error("sweep: out of memory");
            break;
        }
        double best_x = l.mu[0], best_score = -INFINITY;
        for (int c = 0; c < TPE_CANDIDATES; c++) {
            double x = parzen_sample(&l, &rng);
            double score = parzen_log_pdf(&l, x) - parzen_log_pdf(&g, x);
            if (score > best_score) best_score = score, best_x = x;
        }
        free(l.mu);
        free(g.mu);
        double v = f->log_scale ? exp(best_x) : best_x;
        char *out = s->drawn_text + cell * SWEEP_VALUE_BYTES;
        if (f->integer)
            snprintf(out, SWEEP_VALUE_BYTES, "%.0f", fmin(fmax(round(v), f->lo), f->hi));
        else
            sweep_format_draw(fmin(fmax(v, f->lo), f->hi), f->lo, f->hi, 0, out);
        s->drawn[cell] = out;
    }
    free(ord);
    free(vals);
    return rc;
}
