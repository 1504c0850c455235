/*
 * sweep_grid.c — ctrain sweep's search space (sweep.h): each swept flag's list of values or
 * range, the grid's combinations of the lists, and the draws from ranges (Keras Tuner's
 * hp.Float(min, max, sampling="log"), Optuna's suggest_float(log=True)) that a range asks for.
 */
#include "sweep.h"
#include "cli.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int add_value(sweep_flag *f, const char *v) {
    for (int i = 0; i < f->nvals; i++)
        if (strcmp(f->vals[i], v) == 0)
            return cli_usage_error("sweep", "--%s: %s given twice", f->name, v);
    if (f->nvals == SWEEP_MAX_VALUES)
        return cli_usage_error("sweep", "--%s: more than %d values", f->name, SWEEP_MAX_VALUES);
    f->vals[f->nvals++] = v;
    return CLI_EXIT_OK;
}

/* LOW:HIGH or LOW:HIGH:log into f's range. */
static int parse_range(sweep_flag *f, const char *val, int integer) {
    char lo[64], hi[64], scale[8] = "";
    int used = 0, n = sscanf(val, "%63[^:]:%63[^:]%n:%7s%n", lo, hi, &used, scale, &used);
    double a, b;
    if (n < 2 || val[used] || (n == 3 && strcmp(scale, "log") != 0) ||
        cli_parse_double(lo, &a) != 0 || cli_parse_double(hi, &b) != 0 ||
        !(fabs(a) <= FLT_MAX && fabs(b) <= FLT_MAX))
        return cli_usage_error("sweep", "--%s: expected a range LOW:HIGH or LOW:HIGH:log, got "
                               "\"%s\"", f->name, val);
    if (integer < 0) integer = a == floor(a) && b == floor(b) && b >= 1; /* (--val-size: a
                                                                         * count or fraction) */
    if (!(a < b) || (integer && (a != floor(a) || b != floor(b))) || (n == 3 && !(a > 0)))
        return cli_usage_error("sweep", "--%s %s: expected LOW < HIGH%s%s", f->name, val,
                               integer ? ", whole numbers" : "", n == 3 ? ", LOW > 0 (log)" : "");
    f->range = 1;
    f->integer = integer;
    snprintf(f->lo_text, sizeof f->lo_text, "%s", lo);
    snprintf(f->hi_text, sizeof f->hi_text, "%s", hi);
    f->log_scale = n == 3;
    f->lo = a;
    f->hi = b;
    return CLI_EXIT_OK;
}

int sweep_add_values(sweep_spec *s, sweep_flag *f, const char *val, int numeric, int integer) {
    if (numeric && strchr(val, ':')) {
        if (f->nvals > 0)
            return cli_usage_error("sweep", "--%s: a range or values, not both", f->name);
        if (parse_range(f, val, integer) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
        return add_value(f, val);
    }
    if (f->range) return cli_usage_error("sweep", "--%s: a range or values, not both", f->name);
    if (!numeric || !strchr(val, ',')) return add_value(f, val);
    if (s->nowned == NUM_TRAIN_FLAGS)
        return cli_usage_error("sweep", "--%s: too many lists", f->name);
    char *copy = strdup(val);
    if (!copy) return cli_error("sweep: out of memory");
    s->owned[s->nowned++] = copy;
    for (char *p = copy, *c; p; p = c) {
        if ((c = strchr(p, ','))) *c++ = 0;
        if (add_value(f, p) != CLI_EXIT_OK) return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

long sweep_combos(const sweep_spec *s) {
    if (s->random) return 0;
    long n = 1;
    for (int d = 0; d < s->ndims; d++) {
        n *= s->flags[s->dims[d]].nvals;
        if (n > SWEEP_MAX_COMBOS) return -1;
    }
    return n;
}

/* splitmix64: the draws' numbers (a hyperparameter's draw needs no more) */
static uint64_t next_u64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
double sweep_unit(uint64_t *x) { return (double)(next_u64(x) >> 11) * 0x1p-53; }

void sweep_format_draw(double v, double lo, double hi, int closed, char *out) {
    int digits = 3;
    if (hi > lo && v != 0) digits = (int)fmax(3, fmin(17, ceil(log10(fabs(v) / (hi - lo))) + 2));
    for (; digits <= 17; digits++) {
        snprintf(out, SWEEP_VALUE_BYTES, "%.*g", digits, v);
        double back = strtod(out, NULL);
        if (back >= lo && (back < hi || (closed && back == hi))) return;
    }
    snprintf(out, SWEEP_VALUE_BYTES, "%.17g", lo); /* (v itself sat on an end) */
}

int sweep_draw(sweep_spec *s, long n, uint64_t seed) {
    size_t cells = (size_t)n * (size_t)s->ndims;
    free(s->drawn);
    free(s->drawn_text);
    s->drawn = calloc(cells, sizeof *s->drawn);
    s->drawn_text = calloc(cells, SWEEP_VALUE_BYTES);
    if (!s->drawn || !s->drawn_text) return cli_error("sweep: out of memory");
    uint64_t x = seed;
    for (size_t c = 0; c < cells; c++) {
        const sweep_flag *f = &s->flags[s->dims[c % (size_t)s->ndims]];
        char *out = s->drawn_text + c * SWEEP_VALUE_BYTES;
        double u = sweep_unit(&x), v;
        if (!f->range) { /* a list's value, uniform among them */
            s->drawn[c] = f->vals[(int)(u * f->nvals)];
            continue;
        }
        s->drawn[c] = out;
        if (f->integer) { /* each whole number in [lo, hi] alike (log: by its share of
                           * log(hi + 1) - log(lo)) */
            v = f->log_scale ? floor(exp(log(f->lo) + u * (log(f->hi + 1) - log(f->lo))))
                             : floor(f->lo + u * (f->hi - f->lo + 1));
            snprintf(out, SWEEP_VALUE_BYTES, "%.0f", fmin(fmax(v, f->lo), f->hi));
            continue;
        }
        v = f->log_scale ? exp(log(f->lo) + u * (log(f->hi) - log(f->lo)))
                         : f->lo + u * (f->hi - f->lo);
        sweep_format_draw(v, f->lo, f->hi, 0, out); /* (what the trial trains with, and prints) */
    }
    return CLI_EXIT_OK;
}

int sweep_set_value(sweep_spec *s, long c, int d, const char *text) {
    const sweep_flag *f = &s->flags[s->dims[d]];
    const size_t cell = (size_t)c * (size_t)s->ndims + (size_t)d;
    if (!f->range) { /* one of its values */
        for (int j = 0; j < f->nvals; j++)
            if (strcmp(f->vals[j], text) == 0) return s->drawn[cell] = f->vals[j], CLI_EXIT_OK;
        return CLI_EXIT_ERROR;
    }
    double v;
    if (strlen(text) >= SWEEP_VALUE_BYTES || cli_parse_double(text, &v) != 0 || !(v >= f->lo) ||
        !(v <= f->hi) || (f->integer && v != floor(v)))
        return CLI_EXIT_ERROR;
    char *out = s->drawn_text + cell * SWEEP_VALUE_BYTES;
    snprintf(out, SWEEP_VALUE_BYTES, "%s", text);
    s->drawn[cell] = out;
    return CLI_EXIT_OK;
}

const char *sweep_value_of(const sweep_spec *s, long c, int i) {
    const sweep_flag *f = &s->flags[i];
    if (s->random) {
        for (int d = 0; d < s->ndims; d++)
            if (s->dims[d] == i) return s->drawn[(size_t)c * (size_t)s->ndims + (size_t)d];
        return f->nvals ? f->vals[0] : NULL;
    }
    if (f->nvals <= 1) return f->nvals ? f->vals[0] : NULL;
    for (int d = s->ndims - 1; d >= 0; d--) {
        const sweep_flag *g = &s->flags[s->dims[d]];
        if (s->dims[d] == i) return g->vals[c % g->nvals];
        c /= g->nvals;
    }
    return NULL;
}

void sweep_describe(const sweep_spec *s, long combo, char *out, size_t bytes) {
    size_t len = 0;
    out[0] = 0;
    for (int d = 0; d < s->ndims && len < bytes; d++) {
        const sweep_flag *f = &s->flags[s->dims[d]];
        len += (size_t)snprintf(out + len, bytes - len, "%s--%s %s", d ? " " : "", f->name,
                                sweep_value_of(s, combo, s->dims[d]));
    }
}

void sweep_space(const sweep_spec *s, char *out, size_t bytes) {
    size_t len = 0;
    out[0] = 0;
    for (int d = 0; d < s->ndims && len < bytes; d++) {
        const sweep_flag *f = &s->flags[s->dims[d]];
        if (f->range)
            len += (size_t)snprintf(out + len, bytes - len, "%s--%s (%s%s in [%g, %g])",
                                    d ? " x " : "", f->name,
                                    f->log_scale ? "log-uniform" : "uniform",
                                    f->integer ? " whole numbers" : "", f->lo, f->hi);
        else
            len += (size_t)snprintf(out + len, bytes - len, "%s--%s (%d values)", d ? " x " : "",
                                    f->name, f->nvals);
    }
}
