/*
 * train_parse.c — the values of `ctrain train`'s flags that have a syntax of their own: the
 * optimizer's and schedule's names, --schedule's phases, --augment, --betas, --cycle-momentum
 * and --val-size (a count or a fraction), each read here and written back as it would be typed
 * (train_opts.c checks the flags against each other).
 */
#include "args.h"
#include "cli.h"
#include "train.h"

#include "ctrain.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const k_optimizers[] = {"sgd",   "adam",  "adamw",  "rmsprop",
                                           "nadam", "radam", "adamax", "adagrad"};
/* (by ct_schedule_kind: the range test is --lr-find's, not a --lr-schedule choice) */
static const char *const k_schedules[] = {"phases",     "step",       "cosine",
                                          "onecycle",   "plateau",    "range-test",
                                          "exponential", "cosine-restarts", "multistep",
                                          "polynomial", "cyclic"};

#define N_OPTIMIZERS (int)(sizeof k_optimizers / sizeof k_optimizers[0])
#define N_SCHEDULES (int)(sizeof k_schedules / sizeof k_schedules[0])
_Static_assert(sizeof k_optimizers / sizeof k_optimizers[0] == CT_ADAGRAD + 1,
               "a name for every ct_optimizer_kind");
_Static_assert(sizeof k_schedules / sizeof k_schedules[0] == CT_SCHED_CYCLIC + 1,
               "a name for every ct_schedule_kind");

int train_optimizer_kind(const char *name) {
    for (int i = 0; i < N_OPTIMIZERS; i++)
        if (strcmp(name, k_optimizers[i]) == 0) return i;
    return -1;
}
int train_schedule_kind(const char *name) {
    for (int i = 0; i < N_SCHEDULES; i++)
        if (strcmp(name, k_schedules[i]) == 0) return i;
    return -1;
}
const char *train_optimizer_name(int kind) {
    return kind >= 0 && kind < N_OPTIMIZERS ? k_optimizers[kind] : "sgd";
}
const char *train_schedule_name(int kind) {
    return kind >= 0 && kind < N_SCHEDULES ? k_schedules[kind] : "phases";
}

void train_format_schedule(const ct_phase *ph, int n, char *out, size_t out_bytes) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < n && len < out_bytes; i++)
        len += (size_t)snprintf(out + len, out_bytes - len, "%s%d@%g", i ? "," : "", ph[i].epochs,
                                (double)ph[i].lr);
}

int train_parse_val_size(train_opts *o) {
    const char *t = o->val_size_text;
    if (!t) return CLI_EXIT_OK; /* (the default, or a resumed run's count) */
    size_t digits = strspn(t, "0123456789");
    if (digits > 0 && !t[digits]) { /* a count */
        uint64_t n = 0;
        if (cli_parse_u64(t, &n) != 0 || n > (uint64_t)TRAIN_MAX_VAL_SIZE)
            return cli_usage_error("train", "--val-size: %s is more images than any dataset "
                                   "holds (at most %lld)", t, (long long)TRAIN_MAX_VAL_SIZE);
        o->val_size = (int64_t)n;
        o->val_fraction = 0.0;
        return CLI_EXIT_OK;
    }
    /* (decimal only: strtod's hexadecimal floats and infinities are no fraction) */
    char *end = NULL;
    errno = 0;
    int decimal = (isdigit((unsigned char)t[0]) || t[0] == '.') &&
                  strspn(t, "0123456789.eE+-") == strlen(t);
    double f = decimal ? strtod(t, &end) : -1.0;
    if (decimal && errno == ERANGE && f < 1.0) /* (1e-400: no fraction of any dataset) */
        return cli_usage_error("train", "--val-size: %s is too small a fraction to hold out an "
                               "image", t);
    if (!end || end == t || *end || !(f >= 0.0 && f < 1.0))
        return cli_usage_error("train", "--val-size: expected a number of images (10000) or a "
                               "fraction in (0, 1) of the training set (0.2), got \"%s\"", t);
    o->val_fraction = f;
    o->val_size = f > 0.0 ? -1 : 0; /* (0.0: none, as Keras' validation_split=0) */
    return CLI_EXIT_OK;
}

int64_t train_val_count(double fraction, int64_t n) {
    return n - (int64_t)floor((double)n * (1.0 - fraction));
}

/* "5@0.5,5@0.1" → phases; on error writes a message into err and returns -1. */
int train_parse_schedule(const char *s, ct_phase *ph, int *n_out, char *err, size_t err_bytes) {
    int n = 0;
    long total = 0;
    const char *p = s;
    if (!*s) return snprintf(err, err_bytes, "expected EPOCHS@LR[,EPOCHS@LR...], got \"\""), -1;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char part[64];
        if (n >= CT_MAX_PHASES)
            return snprintf(err, err_bytes, "at most %d phases, got \"%s\"", CT_MAX_PHASES, s), -1;
        if (len == 0 || len >= sizeof part)
            return snprintf(err, err_bytes, "phase %d: expected EPOCHS@LR, got \"%.*s\"", n + 1,
                            (int)(len < 40 ? len : 40), p), -1;
        memcpy(part, p, len);
        part[len] = 0;
        char *at = strchr(part, '@');
        long epochs = 0;
        double lr = 0;
        if (!at)
            return snprintf(err, err_bytes, "phase %d: expected EPOCHS@LR, got \"%s\"", n + 1, part), -1;
        *at = 0;
        if (cli_parse_long(part, 1, MAX_TOTAL_EPOCHS, &epochs) != 0)
            return snprintf(err, err_bytes, "phase %d: expected a number of epochs in 1..%d, got "
                            "\"%s\"", n + 1, MAX_TOTAL_EPOCHS, part), -1;
        if (cli_parse_double(at + 1, &lr) != 0 || !(lr > 0) || !((float)lr > 0) ||
            (float)lr > MAX_LR) /* as a float: a saved 1e30 reads back as 1.00000002e+30 */
            return snprintf(err, err_bytes, "phase %d: expected a learning rate above 0 (as a "
                            "32-bit float) and at most 1e30, got \"%s\"", n + 1, at + 1), -1;
        total += epochs;
        if (total > MAX_TOTAL_EPOCHS)
            return snprintf(err, err_bytes, "more than %d epochs in all", MAX_TOTAL_EPOCHS), -1;
        ph[n].epochs = (int)epochs;
        ph[n].lr = (float)lr;
        n++;
        if (!comma) break;
        p = comma + 1;
    }
    *n_out = n;
    return 0;
}

#define AUGMENT_DEFAULT_PAD 4 /* torchvision's CIFAR recipe: RandomCrop(32, padding=4) */
#define AUGMENT_PARTS "off, auto, or parts rotate=D, translate=F, scale=A:B, shear=S, " \
                      "bilinear, crop[=P], resized-crop[=A:B], ratio=A:B, flip, vflip, " \
                      "brightness=X, contrast=X, saturation=X, hue=X, grey[=P], " \
                      "trivial[=BINS], randaugment[=N[:M[:BINS]]], autoaugment[=POLICY], " \
                      "augmix[=S[:W[:D[:ALPHA]]]], " \
                      "erase[=P]"
/* RandomResizedCrop's defaults: scale=(0.08, 1.0), ratio=(3/4, 4/3) */
#define RESIZED_AREA_MIN 0.08f
#define RESIZED_RATIO_MIN (3.0f / 4.0f)
#define RESIZED_RATIO_MAX (4.0f / 3.0f)
#define TA_DEFAULT_BINS 31 /* TrivialAugmentWide's num_magnitude_bins */
static const char *const aa_policies[] = {"", "imagenet", "cifar10", "svhn"};

/* augmix's "S[:W[:D[:ALPHA]]]" into c: 0, or -1 when it is not that */
static int parse_augmix(const char *s, ct_train_config *c) {
    double v[4] = {0, c->augment_augmix_width, c->augment_augmix_depth,
                   c->augment_augmix_alpha};
    int n = 0;
    for (const char *p = s; n < 4; n++) {
        char buf[32];
        size_t len = strcspn(p, ":");
        if (len == 0 || len >= sizeof buf) return -1;
        memcpy(buf, p, len);
        buf[len] = 0;
        if (n < 3) { /* whole numbers (the depth may be -1) */
            long x;
            if (cli_parse_long(buf, n == 2 ? -1 : 0, 1000, &x) != 0) return -1;
            v[n] = (double)x;
        } else if (cli_parse_double(buf, &v[n]) != 0) {
            return -1;
        }
        p += len;
        if (!*p) {
            n++;
            break;
        }
        if (n == 3) return -1; /* (a fifth number) */
        p++;
    }
    if (v[0] < 1 || v[0] > CT_MAX_AUGMIX_SEVERITY || v[1] < 1 || v[1] > CT_MAX_AUGMIX_WIDTH ||
        !(v[2] == -1 || (v[2] >= 1 && v[2] <= CT_MAX_AUGMIX_DEPTH)) ||
        !((float)v[3] > 0.0f && v[3] <= CT_MAX_AUGMIX_ALPHA))
        return -1;
    c->augment_augmix_severity = (int)v[0], c->augment_augmix_width = (int)v[1];
    c->augment_augmix_depth = (int)v[2], c->augment_augmix_alpha = (float)v[3];
    return 0;
}

/* randaugment's "N[:M[:BINS]]" into c: 0, or -1 when it is not that */
static int parse_randaugment(const char *s, ct_train_config *c) {
    long v[3] = {CT_RA_DEFAULT_OPS, CT_RA_DEFAULT_MAGNITUDE, CT_RA_DEFAULT_BINS};
    int n = 0;
    for (const char *p = s; n < 3; n++) {
        char buf[16], *end;
        size_t len = strcspn(p, ":");
        if (len == 0 || len >= sizeof buf) return -1;
        memcpy(buf, p, len);
        buf[len] = 0;
        if (!isdigit((unsigned char)buf[0])) return -1;
        v[n] = strtol(buf, &end, 10);
        if (*end) return -1;
        p += len;
        if (!*p) {
            n++;
            break;
        }
        p++;
        if (n == 2) return -1; /* (a fourth number) */
    }
    if (n < 1 || v[0] < 1 || v[0] > CT_MAX_RA_OPS || v[2] < 2 || v[2] > CT_MAX_TA_BINS ||
        v[1] < 0 || v[1] >= v[2])
        return -1;
    c->augment_ra_ops = (int)v[0], c->augment_ra_magnitude = (int)v[1];
    c->augment_ra_bins = (int)v[2];
    return 0;
}

/* "X<sep>Y" into *x and *y: 0, or -1 when it is not two numbers joined by sep */
static int parse_two(const char *s, char sep, double *x, double *y) {
    char buf[64];
    const char *at = strchr(s, sep);
    if (!at || (size_t)(at - s) >= sizeof buf) return -1;
    memcpy(buf, s, (size_t)(at - s));
    buf[at - s] = 0;
    return cli_parse_double(buf, x) == 0 && cli_parse_double(at + 1, y) == 0 ? 0 : -1;
}

/* "A:B" (a range of --augment's) into *a and *b */
static int augment_range(const char *s, double *a, double *b) { return parse_two(s, ':', a, b); }

/* "NAME=X" with X a number in [lo, hi] into *out: 1 when part is NAME=..., -1 on a bad X */
static int augment_number(const char *part, const char *name, double lo, double hi,
                          double *out) {
    size_t n = strlen(name);
    if (strncmp(part, name, n) != 0 || part[n] != '=') return 0;
    return cli_parse_double(part + n + 1, out) == 0 && *out >= lo && *out <= hi ? 1 : -1;
}

int train_parse_augment(const char *spec, const char *dataset, ct_train_config *c, char *err,
                        size_t err_bytes) {
    c->augment_pad = c->augment_flip = c->augment_vflip = c->augment_bilinear = 0;
    c->augment_degrees = c->augment_translate = c->augment_shear = 0.0f;
    c->augment_scale_min = c->augment_scale_max = 0.0f;
    c->augment_area_min = c->augment_area_max = 0.0f;
    c->augment_ratio_min = c->augment_ratio_max = 0.0f;
    c->augment_erase_p = 0.0f;
    for (int k = 0; k < 4; k++) c->augment_jitter[k] = 0.0f;
    c->augment_ta_bins = 0;
    c->augment_ra_ops = 0; /* (its magnitude and bins: ct_train_config_default's) */
    c->augment_ra_magnitude = CT_RA_DEFAULT_MAGNITUDE, c->augment_ra_bins = CT_RA_DEFAULT_BINS;
    c->augment_aa_policy = CT_AUTOAUGMENT_NONE;
    c->augment_augmix_severity = 0; /* (its chains, depth and alpha: torchvision's) */
    c->augment_augmix_width = CT_AUGMIX_DEFAULT_WIDTH;
    c->augment_augmix_depth = CT_AUGMIX_DEFAULT_DEPTH;
    c->augment_augmix_alpha = CT_AUGMIX_DEFAULT_ALPHA;
    c->augment_grey_p = 0.0f;
    if (strcmp(spec, "off") == 0) return 0;
    if (strcmp(spec, "auto") == 0) {
        if (strcmp(dataset, "cifar10") == 0)
            c->augment_pad = AUGMENT_DEFAULT_PAD, c->augment_flip = 1;
        return 0;
    }
    const char *p = spec;
    unsigned seen = 0; /* a bit a part */
    for (;;) {
        size_t len = strcspn(p, ",");
        char part[64];
        if (len == 0 || len >= sizeof part)
            return snprintf(err, err_bytes, "expected " AUGMENT_PARTS ", separated by commas, "
                            "got \"%s\"", spec), -1;
        memcpy(part, p, len);
        part[len] = 0;
        double x;
        int r, bit;
        const char *bad = NULL;
        if (strcmp(part, "flip") == 0) {
            bit = 0, c->augment_flip = 1;
        } else if (strcmp(part, "vflip") == 0) {
            bit = 14, c->augment_vflip = 1;
        } else if (strcmp(part, "bilinear") == 0) {
            bit = 1, c->augment_bilinear = 1;
        } else if (strncmp(part, "crop", 4) == 0 && (part[4] == 0 || part[4] == '=')) {
            long v = AUGMENT_DEFAULT_PAD;
            if (part[4] == '=' && cli_parse_long(part + 5, 1, CT_MAX_AUGMENT_PAD, &v) != 0)
                return snprintf(err, err_bytes, "crop=P: P must be a whole number of pixels in "
                                "[1, %d], got \"%s\"", CT_MAX_AUGMENT_PAD, part + 5), -1;
            bit = 2, c->augment_pad = (int)v;
        } else if ((r = augment_number(part, "rotate", 0, 180, &x)) != 0) {
            bit = 3, c->augment_degrees = (float)x;
            if (r < 0) bad = "rotate=D: D must be degrees in [0, 180]";
        } else if ((r = augment_number(part, "translate", 0, 1, &x)) != 0) {
            bit = 4, c->augment_translate = (float)x;
            if (r < 0) bad = "translate=F: F must be a fraction of the image in [0, 1]";
        } else if ((r = augment_number(part, "shear", 0, 89, &x)) != 0) {
            bit = 5, c->augment_shear = (float)x;
            if (r < 0) bad = "shear=S: S must be degrees in [0, 89]";
        } else if (strncmp(part, "scale=", 6) == 0) {
            bit = 6;
            double hi;
            if (augment_range(part + 6, &x, &hi) != 0 || !((float)x > 0 && x <= hi) ||
                !(hi <= CT_MAX_AUGMENT_SCALE)) /* (a zoom a float rounds to 0 too) */
                return snprintf(err, err_bytes, "scale=A:B: A and B must be zooms with 0 < A <= "
                                "B <= %g, got \"%s\"", (double)CT_MAX_AUGMENT_SCALE,
                                part + 6), -1;
            c->augment_scale_min = (float)x;
            c->augment_scale_max = (float)hi;
        } else if (strncmp(part, "resized-crop", 12) == 0 && (part[12] == 0 || part[12] == '=')) {
            bit = 7;
            double hi = 1.0;
            x = RESIZED_AREA_MIN;
            if (part[12] == '=' && (augment_range(part + 13, &x, &hi) != 0 ||
                                    !((float)x > 0 && x <= hi && hi <= 1)))
                return snprintf(err, err_bytes, "resized-crop=A:B: A and B must be shares of "
                                "the image's area with 0 < A <= B <= 1, got \"%s\"",
                                part + 13), -1;
            c->augment_area_min = (float)x;
            c->augment_area_max = (float)hi;
        } else if ((r = augment_number(part, "brightness", 0, CT_MAX_JITTER, &x)) != 0 ||
                   (r = augment_number(part, "contrast", 0, CT_MAX_JITTER, &x)) != 0 ||
                   (r = augment_number(part, "saturation", 0, CT_MAX_JITTER, &x)) != 0 ||
                   (r = augment_number(part, "hue", 0, 0.5, &x)) != 0) {
            const int k = part[0] == 'b' ? 0 : part[0] == 'c' ? 1 : part[0] == 's' ? 2 : 3;
            bit = 10 + k, c->augment_jitter[k] = (float)x;
            if (r < 0)
                bad = k == 3 ? "hue=X: X must be a hue shift in [0, 0.5]"
                             : "brightness=X, contrast=X, saturation=X: X must be in [0, 10]";
        } else if (strncmp(part, "erase", 5) == 0 && (part[5] == 0 || part[5] == '=')) {
            bit = 9, x = 0.5; /* RandomErasing's p */
            if (part[5] == '=' && (cli_parse_double(part + 6, &x) != 0 || !((float)x > 0) ||
                                   !(x <= 1))) /* (a chance a float rounds to 0 too) */
                return snprintf(err, err_bytes, "erase=P: P must be a chance in (0, 1], got "
                                "\"%s\"", part + 6), -1;
            c->augment_erase_p = (float)x;
        } else if (strncmp(part, "trivial", 7) == 0 && (part[7] == 0 || part[7] == '=')) {
            long v = TA_DEFAULT_BINS;
            if (part[7] == '=' && cli_parse_long(part + 8, 2, CT_MAX_TA_BINS, &v) != 0)
                return snprintf(err, err_bytes, "trivial=BINS: BINS must be a whole number of "
                                "magnitude bins in [2, %d], got \"%s\"", CT_MAX_TA_BINS,
                                part + 8), -1;
            bit = 15, c->augment_ta_bins = (int)v;
        } else if (strncmp(part, "randaugment", 11) == 0 && (part[11] == 0 || part[11] == '=')) {
            bit = 17;
            c->augment_ra_ops = CT_RA_DEFAULT_OPS;
            if (part[11] == '=' && parse_randaugment(part + 12, c) != 0)
                return snprintf(err, err_bytes, "randaugment=N[:M[:BINS]]: N ops an image (1 "
                                "to %d), at the magnitude M, a bin from 0 to BINS - 1 (BINS: 2 "
                                "to %d; defaults 2:9:31), got \"%s\"", CT_MAX_RA_OPS,
                                CT_MAX_TA_BINS, part + 12), -1;
        } else if (strncmp(part, "augmix", 6) == 0 && (part[6] == 0 || part[6] == '=')) {
            bit = 19, c->augment_augmix_severity = CT_AUGMIX_DEFAULT_SEVERITY;
            if (part[6] == '=' && parse_augmix(part + 7, c) != 0)
                return snprintf(err, err_bytes, "augmix=S[:W[:D[:ALPHA]]]: severity S (1 to %d, "
                                "default 3), W chains (1 to %d, default 3) of D ops (1 to %d, or "
                                "-1, the default: 1 to 3 at random), ALPHA in (0, %g] (default "
                                "1), got \"%s\"", CT_MAX_AUGMIX_SEVERITY, CT_MAX_AUGMIX_WIDTH,
                                CT_MAX_AUGMIX_DEPTH, (double)CT_MAX_AUGMIX_ALPHA, part + 7), -1;
        } else if (strncmp(part, "autoaugment", 11) == 0 && (part[11] == 0 || part[11] == '=')) {
            bit = 18, c->augment_aa_policy = CT_AUTOAUGMENT_IMAGENET;
            if (part[11] == '=') {
                c->augment_aa_policy = CT_AUTOAUGMENT_NONE;
                for (int k = CT_AUTOAUGMENT_IMAGENET; k <= CT_AUTOAUGMENT_SVHN; k++)
                    if (strcmp(part + 12, aa_policies[k]) == 0) c->augment_aa_policy = k;
                if (c->augment_aa_policy == CT_AUTOAUGMENT_NONE)
                    return snprintf(err, err_bytes, "autoaugment=POLICY: POLICY must be "
                                    "imagenet, cifar10 or svhn, got \"%s\"", part + 12), -1;
            }
        } else if ((strncmp(part, "grey", 4) == 0 || strncmp(part, "gray", 4) == 0) &&
                   (part[4] == 0 || part[4] == '=')) { /* (either spelling) */
            bit = 16, x = 0.1; /* RandomGrayscale's p */
            if (part[4] == '=' && (cli_parse_double(part + 5, &x) != 0 || !((float)x > 0) ||
                                   !(x <= 1)))
                return snprintf(err, err_bytes, "grey=P: P must be a chance in (0, 1], got "
                                "\"%s\"", part + 5), -1;
            c->augment_grey_p = (float)x;
        } else if (strncmp(part, "ratio=", 6) == 0) {
            bit = 8;
            double hi;
            if (augment_range(part + 6, &x, &hi) != 0 || !(x <= hi) ||
                !((float)x >= 1.0f / CT_MAX_AUGMENT_RATIO) || !(hi <= CT_MAX_AUGMENT_RATIO))
                return snprintf(err, err_bytes, "ratio=A:B: A and B must be aspect ratios "
                                "(width / height) with 1/%g <= A <= B <= %g, got \"%s\"",
                                (double)CT_MAX_AUGMENT_RATIO, (double)CT_MAX_AUGMENT_RATIO,
                                part + 6), -1;
            c->augment_ratio_min = (float)x;
            c->augment_ratio_max = (float)hi;
        } else {
            return snprintf(err, err_bytes, "unknown part \"%s\" in \"%s\" (expected "
                            AUGMENT_PARTS ")", part, spec), -1;
        }
        if (bad) return snprintf(err, err_bytes, "%s, got \"%s\"", bad, strchr(part, '=') + 1), -1;
        if (seen & (1u << bit))
            return snprintf(err, err_bytes, "\"%.*s\" given twice in \"%s\"",
                            (int)strcspn(part, "="), part, spec), -1;
        seen |= 1u << bit;
        if (!p[len]) break;
        p += len + 1;
    }
    if (c->augment_bilinear && !(c->augment_degrees > 0 || c->augment_translate > 0 ||
                                 c->augment_scale_max > 0 || c->augment_shear > 0 ||
                                 (seen & (0x5u << 15) || seen & (0x3u << 18))))
        return snprintf(err, err_bytes, "bilinear: the interpolation of rotate, translate, "
                        "scale, shear or the warps of trivial, randaugment, autoaugment and "
                        "augmix, "
                        "none of which is in \"%s\" (resized-crop's is always bilinear)",
                        spec), -1;
    if (c->augment_ratio_max > 0 && c->augment_area_max == 0)
        return snprintf(err, err_bytes, "ratio=A:B: the aspect ratios of resized-crop's boxes, "
                        "and there is no resized-crop in \"%s\"", spec), -1;
    if (c->augment_area_max > 0 && (c->augment_pad > 0 || c->augment_degrees > 0 ||
                                    c->augment_translate > 0 || c->augment_scale_max > 0 ||
                                    c->augment_shear > 0))
        return snprintf(err, err_bytes, "resized-crop takes the place of rotate, translate, "
                        "scale, shear and crop (torchvision's RandomResizedCrop, then the flip): "
                        "not both in \"%s\"", spec), -1;
    const char *aa = seen & (1u << 15) ? "trivial" : seen & (1u << 17) ? "randaugment"
                   : seen & (1u << 18) ? "autoaugment" : seen & (1u << 19) ? "augmix" : NULL;
    if (__builtin_popcount(seen & (0x5u << 15 | 0x3u << 18)) > 1)
        return snprintf(err, err_bytes, "trivial, randaugment, autoaugment and augmix are each "
                        "a whole policy of ops: one of them, not more, in \"%s\"", spec), -1;
    if (aa && (seen & (0xfu << 10)))
        return snprintf(err, err_bytes, "%s: its ops include brightness, colour and contrast; "
                        "not with brightness, contrast, saturation or hue in \"%s\"", aa,
                        spec), -1;
    if (aa && c->augment_grey_p > 0)
        return snprintf(err, err_bytes, "%s works on the bytes before any colouring; not with "
                        "grey in \"%s\"", aa, spec), -1;
    if (c->augment_area_max > 0 && c->augment_ratio_max == 0)
        c->augment_ratio_min = RESIZED_RATIO_MIN, c->augment_ratio_max = RESIZED_RATIO_MAX;
    return 0;
}

void train_format_augment(const ct_train_config *c, char *out, size_t out_bytes) {
    char num[2][32];
    size_t used = 0;
    out[0] = 0;
#define PUT(...)                                                                              \
    do {                                                                                      \
        int w_ = snprintf(out + used, out_bytes - used, "%s", used ? "," : "");               \
        if (w_ > 0 && (size_t)w_ < out_bytes - used) used += (size_t)w_;                      \
        w_ = snprintf(out + used, out_bytes - used, __VA_ARGS__);                             \
        if (w_ > 0 && (size_t)w_ < out_bytes - used) used += (size_t)w_;                      \
    } while (0)
    if (c->augment_degrees != 0.0f) {
        cli_shortest_float(c->augment_degrees, num[0], sizeof num[0]);
        PUT("rotate=%s", num[0]);
    }
    if (c->augment_translate != 0.0f) {
        cli_shortest_float(c->augment_translate, num[0], sizeof num[0]);
        PUT("translate=%s", num[0]);
    }
    if (c->augment_scale_max != 0.0f) {
        cli_shortest_float(c->augment_scale_min, num[0], sizeof num[0]);
        cli_shortest_float(c->augment_scale_max, num[1], sizeof num[1]);
        PUT("scale=%s:%s", num[0], num[1]);
    }
    if (c->augment_shear != 0.0f) {
        cli_shortest_float(c->augment_shear, num[0], sizeof num[0]);
        PUT("shear=%s", num[0]);
    }
    if (c->augment_bilinear) PUT("bilinear");
    if (c->augment_pad > 0) PUT("crop=%d", c->augment_pad);
    if (c->augment_area_max != 0.0f) {
        cli_shortest_float(c->augment_area_min, num[0], sizeof num[0]);
        cli_shortest_float(c->augment_area_max, num[1], sizeof num[1]);
        PUT("resized-crop=%s:%s", num[0], num[1]);
        if (c->augment_ratio_min != RESIZED_RATIO_MIN ||
            c->augment_ratio_max != RESIZED_RATIO_MAX) {
            cli_shortest_float(c->augment_ratio_min, num[0], sizeof num[0]);
            cli_shortest_float(c->augment_ratio_max, num[1], sizeof num[1]);
            PUT("ratio=%s:%s", num[0], num[1]);
        }
    }
    if (c->augment_flip) PUT("flip");
    if (c->augment_vflip) PUT("vflip");
    static const char *const jitter_names[4] = {"brightness", "contrast", "saturation", "hue"};
    for (int k = 0; k < 4; k++)
        if (c->augment_jitter[k] != 0.0f) {
            cli_shortest_float(c->augment_jitter[k], num[0], sizeof num[0]);
            PUT("%s=%s", jitter_names[k], num[0]);
        }
    if (c->augment_grey_p != 0.0f) {
        cli_shortest_float(c->augment_grey_p, num[0], sizeof num[0]);
        PUT("grey=%s", num[0]);
    }
    if (c->augment_ta_bins == TA_DEFAULT_BINS) PUT("trivial");
    else if (c->augment_ta_bins) PUT("trivial=%d", c->augment_ta_bins);
    if (c->augment_ra_ops && c->augment_ra_bins != CT_RA_DEFAULT_BINS)
        PUT("randaugment=%d:%d:%d", c->augment_ra_ops, c->augment_ra_magnitude,
            c->augment_ra_bins);
    else if (c->augment_ra_ops && (c->augment_ra_ops != CT_RA_DEFAULT_OPS ||
                                   c->augment_ra_magnitude != CT_RA_DEFAULT_MAGNITUDE))
        PUT("randaugment=%d:%d", c->augment_ra_ops, c->augment_ra_magnitude);
    else if (c->augment_ra_ops) PUT("randaugment");
    if (c->augment_aa_policy == CT_AUTOAUGMENT_IMAGENET) PUT("autoaugment");
    else if (c->augment_aa_policy > CT_AUTOAUGMENT_IMAGENET &&
             c->augment_aa_policy <= CT_AUTOAUGMENT_SVHN)
        PUT("autoaugment=%s", aa_policies[c->augment_aa_policy]);
    if (c->augment_augmix_severity && (c->augment_augmix_width != CT_AUGMIX_DEFAULT_WIDTH ||
                                       c->augment_augmix_depth != CT_AUGMIX_DEFAULT_DEPTH ||
                                       c->augment_augmix_alpha != CT_AUGMIX_DEFAULT_ALPHA)) {
        cli_shortest_float(c->augment_augmix_alpha, num[0], sizeof num[0]);
        PUT("augmix=%d:%d:%d:%s", c->augment_augmix_severity, c->augment_augmix_width,
            c->augment_augmix_depth, num[0]);
    } else if (c->augment_augmix_severity == CT_AUGMIX_DEFAULT_SEVERITY) {
        PUT("augmix");
    } else if (c->augment_augmix_severity) {
        PUT("augmix=%d", c->augment_augmix_severity);
    }
    if (c->augment_erase_p != 0.0f) {
        cli_shortest_float(c->augment_erase_p, num[0], sizeof num[0]);
        PUT("erase=%s", num[0]);
    }
#undef PUT
    if (!used) snprintf(out, out_bytes, "off");
}

int train_parse_pair(const char *s, double *x, double *y) { return parse_two(s, ',', x, y); }

int train_parse_class_weight(const char *s, float *w, int *n, char *err, size_t err_bytes) {
    *n = 0;
    if (strcmp(s, "off") == 0) return 0;
    if (strcmp(s, "balanced") == 0) return *n = -1, 0;
    for (const char *p = s;; (*n)++) {
        size_t len = strcspn(p, ",");
        char buf[64];
        double x;
        if (*n >= CT_MAX_CLASSES) {
            snprintf(err, err_bytes, "more than %d weights", CT_MAX_CLASSES);
            return -1;
        }
        if (len >= sizeof buf) {
            snprintf(err, err_bytes, "weight %d (\"%.20s...\") is %zu characters long", *n + 1,
                     p, len);
            return -1;
        }
        memcpy(buf, p, len);
        buf[len] = 0;
        if (cli_parse_double(buf, &x) != 0 || !(x >= 0) || !((float)x <= FLT_MAX)) {
            snprintf(err, err_bytes, "weight %d (\"%.20s\") is not a finite number >= 0; "
                     "expected balanced, off or W0,W1,... (one per class)", *n + 1, buf);
            return -1;
        }
        w[*n] = (float)x + 0.0f; /* (-0 is 0) */
        p += strcspn(p, ",");
        if (!*p) break;
        p++;
    }
    (*n)++;
    return 0;
}

/* "B1,B2" → two floats in (0, 1); -1 when malformed. */
int train_parse_betas(const char *s, float *b1, float *b2) {
    double x, y;
    if (train_parse_pair(s, &x, &y) != 0) return -1;
    if (!(x > 0 && x < 1) || !(y > 0 && y < 1)) return -1; /* 0 would mean the default */
    *b1 = (float)x;
    *b2 = (float)y;
    return 0;
}

int train_parse_milestones(const char *s, ct_train_config *c, char *err, size_t err_bytes) {
    int n = 0;
    for (const char *p = s;; p++) {
        char num[16];
        size_t len = strcspn(p, ",");
        long v;
        if (len == 0 || len >= sizeof num) {
            snprintf(err, err_bytes, "expected epochs E1,E2,... (whole numbers), got \"%s\"", s);
            return -1;
        }
        memcpy(num, p, len);
        num[len] = 0;
        if (cli_parse_long(num, 1, CT_MAX_EPOCHS, &v) != 0) {
            snprintf(err, err_bytes, "\"%s\" is not an epoch 1..%d (epoch 0 is where the run "
                     "starts, at --lr)", num, CT_MAX_EPOCHS);
            return -1;
        }
        if (n == CT_MAX_MILESTONES) {
            snprintf(err, err_bytes, "at most %d milestones, got more", CT_MAX_MILESTONES);
            return -1;
        }
        if (n > 0 && v <= c->milestones[n - 1]) {
            snprintf(err, err_bytes, "milestones must increase, got %ld after %d", v,
                     c->milestones[n - 1]);
            return -1;
        }
        c->milestones[n++] = (int)v;
        p += len;
        if (!*p) break;
    }
    c->num_milestones = n;
    return 0;
}

void train_format_milestones(const ct_train_config *c, char *out, size_t out_bytes) {
    size_t len = 0;
    out[0] = 0;
    for (int i = 0; i < c->num_milestones && len < out_bytes; i++)
        len += (size_t)snprintf(out + len, out_bytes - len, "%s%d", i ? "," : "", c->milestones[i]);
}

/* (on: base = max = 0, the library's defaults) */
int train_parse_cycle_momentum(const char *s, ct_train_config *c) {
    c->cycle_momentum = strcmp(s, "off") != 0;
    c->base_momentum = c->max_momentum = 0.0f;
    if (strcmp(s, "on") == 0 || strcmp(s, "off") == 0) return 0;
    double x, y;
    if (train_parse_pair(s, &x, &y) != 0) return -1;
    const float b = (float)x, m = (float)y; /* (checked as the floats they train as) */
    if (!(b >= 0 && b < 1) || !(m >= 0 && m < 1) || (b == 0 && m == 0)) return -1;
    c->base_momentum = b + 0.0f; /* (-0 is 0) */
    c->max_momentum = m + 0.0f;
    return 0;
}

int train_same_cycle_momentum(const ct_train_config *a, const ct_train_config *b) {
    if (!a->cycle_momentum || !b->cycle_momentum) return a->cycle_momentum == b->cycle_momentum;
    float ab, am, bb, bm;
    ct_cycled_momentum(a, &ab, &am);
    ct_cycled_momentum(b, &bb, &bm);
    return ab == bb && am == bm;
}

void train_format_cycle_momentum(const ct_train_config *c, char *out, size_t out_bytes) {
    char base[32], max[32];
    if (!c->cycle_momentum) {
        snprintf(out, out_bytes, "off");
    } else if (c->base_momentum == 0.0f && c->max_momentum == 0.0f) {
        snprintf(out, out_bytes, "on");
    } else {
        cli_shortest_float(c->base_momentum, base, sizeof base);
        cli_shortest_float(c->max_momentum, max, sizeof max);
        snprintf(out, out_bytes, "%s,%s", base, max);
    }
}

int train_normalize_spec(const char *arg, const ct_dataset *train, const char *spec, char *out,
                         size_t out_bytes, char *err, size_t err_bytes) {
    if (strcmp(arg, "off") == 0) return snprintf(out, out_bytes, "%s", spec), 0;
    if (ct_model_preset(spec)) spec = ct_model_preset(spec); /* (lenet5: its layers) */
    const char *first = spec + strspn(spec, " \t");
    if (strncasecmp(first, "normalize", 9) == 0)
        return snprintf(err, err_bytes, "the model \"%.60s\" already starts with a normalize "
                        "layer", spec), -1;
    double v[2 * CT_MAX_NORM_CHANNELS];
    int n = 0, c = train ? ct_dataset_channels(train) : 0; /* (NULL: the syntax alone) */
    if (strcmp(arg, "auto") == 0 && !train) return snprintf(out, out_bytes, "%s", spec), 0;
    if (strcmp(arg, "auto") == 0) { /* over every training image, as torchvision's constants */
        int per = c <= CT_MAX_NORM_CHANNELS ? c : 1;
        int64_t count = ct_dataset_count(train) - ct_dataset_val_count(train), /* (not val/) */
                plane = (int64_t)ct_dataset_height(train) *
                                                         ct_dataset_width(train);
        const uint8_t *px = ct_dataset_images(train);
        for (int k = 0; k < per; k++) {
            double sum = 0, sq = 0, m = 0;
            for (int64_t i = 0; i < count; i++)
                for (int ch = per == 1 ? 0 : k; ch < (per == 1 ? c : k + 1); ch++) {
                    const uint8_t *p = px + (i * c + ch) * plane;
                    for (int64_t j = 0; j < plane; j++) sum += p[j], sq += (double)p[j] * p[j];
                }
            m = (double)count * plane * (per == 1 ? c : 1);
            double mean = sum / m, var = sq / m - mean * mean;
            v[k] = mean / 255.0, v[per + k] = sqrt(var > 0 ? var : 0) / 255.0;
            if (!(v[per + k] >= 1e-4))
                return snprintf(err, err_bytes, "auto: the training images' channel %d is "
                                "constant (std 0): nothing to normalize by", k), -1;
        }
        n = 2 * per;
    } else { /* numbers between commas, none empty */
        const char *p = arg;
        for (;;) {
            size_t len = strcspn(p, ",");
            char num[64];
            double x;
            if (n == 2 * CT_MAX_NORM_CHANNELS || len == 0 || len >= sizeof num ||
                (memcpy(num, p, len), num[len] = 0, cli_parse_double(num, &x) != 0) ||
                !isfinite((float)x) || strpbrk(num, "xXnN"))
                return snprintf(err, err_bytes, "expected off, auto, MEAN,STD or M1,...,MC,S1,"
                                "...,SC (C <= %d), got \"%s\"", CT_MAX_NORM_CHANNELS, arg), -1;
            v[n++] = x;
            if (!p[len]) break;
            p += len + 1;
        }
        if (n < 2 || n % 2)
            return snprintf(err, err_bytes, "\"%s\": %d numbers, expected a MEAN,STD pair or "
                            "the means then the stds of the channels", arg, n), -1;
        if (n > 2 && train && n / 2 != c)
            return snprintf(err, err_bytes, "\"%s\": %d means and stds, but the images have %d "
                            "channel%s (or give one MEAN,STD pair)", arg, n / 2, c,
                            c == 1 ? "" : "s"), -1;
        for (int k = n / 2; k < n; k++) /* (1 / std taken as a float: finite) */
            if (!((float)v[k] > 0) || !isfinite(1.0f / (float)v[k]))
                return snprintf(err, err_bytes, "\"%s\": a std must be > 0 (and its inverse a "
                                "float)", arg), -1;
    }
    size_t used = (size_t)snprintf(out, out_bytes, "normalize(");
    for (int k = 0; k < n && used < out_bytes; k++)
        used += (size_t)snprintf(out + used, out_bytes - used, "%s%.*g", k ? "," : "",
                                 strcmp(arg, "auto") == 0 ? 4 : 9, v[k]);
    if (used < out_bytes) used += (size_t)snprintf(out + used, out_bytes - used, "),%s", spec);
    if (used >= out_bytes) return snprintf(err, err_bytes, "the model spec is too long"), -1;
    return 0;
}

int train_parse_image_size(train_opts *o) {
    long h = 0, w = 0, sh = 0, sw = 0;
    if (o->image_size && strcmp(o->dataset, "folder") != 0)
        return cli_usage_error("train", "--image-size: only for --dataset folder (%s's images "
                               "have their size)", o->dataset);
    if (o->image_size && cli_parse_image_size(o->image_size, &h, &w) != 0)
        return cli_usage_error("train", "--image-size: expected SIDE or HEIGHT,WIDTH, each 1 to "
                               "%d and at most %d pixels in all, got \"%s\"",
                               CLI_MAX_IMAGE_SIDE, CLI_MAX_IMAGE_PIXELS, o->image_size);
    if (o->image_size_saved[0]) { /* a resumed folder run: the size its model takes */
        if (cli_parse_image_size(o->image_size_saved, &sh, &sw) != 0)
            return cli_usage_error("train", "--resume %s: its input shape %s is not an image "
                                   "size", o->resume_dir, o->image_size_saved);
        if (o->image_size && (h != sh || w != sw))
            return cli_usage_error("train", "--image-size %s: the run in %s was trained at "
                                   "%ld,%ld, and a resumed run keeps it", o->image_size,
                                   o->resume_dir, sh, sw);
        h = sh, w = sw;
    }
    o->image_h = (int)h, o->image_w = (int)w;
    if (o->val_resize && strcmp(o->dataset, "folder") != 0)
        return cli_usage_error("train", "--val-resize: only for --dataset folder (%s's "
                               "evaluation images have the training images' size)", o->dataset);
    if (o->val_resize && (o->val_resize < h || o->val_resize < w))
        return cli_usage_error("train", "--val-resize %d: less than the --image-size %ld,%ld "
                               "its centre crop takes", o->val_resize, h, w);
    return CLI_EXIT_OK;
}
