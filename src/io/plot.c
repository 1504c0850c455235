/*
 * plot.c — pictures out, drawn with cairo and written as PNG (atomically, see atomic.h):
 * ct_plot_png, a line chart like the tutorial's matplotlib plots (axes, "nice" ticks, grid,
 * axis labels, title, legend placed where it hides no point), ct_grid_png, a grid of
 * dataset images like torchvision's make_grid, with labels and predictions, and
 * ct_confusion_png, a confusion matrix like scikit-learn's ConfusionMatrixDisplay.
 */
#include "io/atomic.h"
#include "io/json_out.h"

#include "ctrain/io.h"

#include <cairo.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "DejaVu Sans"
#define TICKS_WANTED 6
#define MARKER_RADIUS 3.5
#define MARKER_MAX_POINTS 200 /* a series of more points is drawn as a line only */
#define LINE_WIDTH 2.0
#define GRID_PAD 2 /* make_grid's padding */
#define LEGEND_SAMPLES 16 /* points per line segment tested against the legend box */

static const double k_mark_rgb[3] = {0.839, 0.153, 0.157}; /* tab10's red */
static const double k_mark_dash[2] = {6.0, 4.0};

/* matplotlib's tab10 colours */
static const double k_colours[][3] = {
    {0.122, 0.467, 0.706}, {1.000, 0.498, 0.055}, {0.173, 0.627, 0.173}, {0.839, 0.153, 0.157},
    {0.580, 0.404, 0.741}, {0.549, 0.337, 0.294}, {0.890, 0.467, 0.761}, {0.498, 0.498, 0.498},
};
#define N_COLOURS (int)(sizeof k_colours / sizeof k_colours[0])

/* ------------------------------------------------------------------------------------------ */
/* writing a surface                                                                           */

static cairo_status_t png_sink(void *closure, const unsigned char *data, unsigned int n) {
    return ct_afile_write(closure, data, n) == CT_OK ? CAIRO_STATUS_SUCCESS
                                                     : CAIRO_STATUS_WRITE_ERROR;
}

static ct_status write_png(cairo_surface_t *surface, const char *path) {
    cairo_surface_flush(surface);
    if (cairo_surface_status(surface) != CAIRO_STATUS_SUCCESS)
        return ct_fail(CT_ERR_INVALID, "%s: drawing failed: %s", path,
                       cairo_status_to_string(cairo_surface_status(surface)));
    ct_afile f;
    CT_TRY(ct_afile_open(&f, path));
    cairo_status_t cs = cairo_surface_write_to_png_stream(surface, png_sink, &f);
    if (cs != CAIRO_STATUS_SUCCESS) {
        ct_status s = f.failed ? f.failed : ct_fail(CT_ERR_IO, "%s: PNG encoding failed: %s",
                                                    path, cairo_status_to_string(cs));
        ct_afile_abort(&f);
        return s;
    }
    return ct_afile_commit(&f);
}

/* Writes what cr drew on surface to path (unless drawing failed) and frees both. */
static ct_status finish_png(cairo_t *cr, cairo_surface_t *surface, const char *path) {
    ct_status s = cairo_status(cr) == CAIRO_STATUS_SUCCESS
                      ? write_png(surface, path)
                      : ct_fail(CT_ERR_INVALID, "%s: drawing failed: %s", path,
                                cairo_status_to_string(cairo_status(cr)));
    cairo_destroy(cr);
    cairo_surface_destroy(surface);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* line charts                                                                                 */

typedef struct {
    double lo, hi;      /* axis range: the data's, with a margin */
    double first, step; /* the first tick and the step between ticks */
    int decimals;       /* for tick labels */
} axis;

#define AXIS_MARGIN 0.04 /* of the data's range on each side, so no point sits on the frame */

/* A "nice" tick step (1, 2 or 5 times a power of ten) giving about TICKS_WANTED ticks over
 * lo..hi. integer: steps of at least 1. */
static void nice_axis(double lo, double hi, int integer, axis *a) {
    if (!(hi > lo)) {
        double pad = fabs(lo) > 0 ? fabs(lo) * 0.1 : 1.0;
        lo -= pad;
        hi += pad;
    }
    double raw = (hi - lo) / (TICKS_WANTED - 1), p = pow(10.0, floor(log10(raw)));
    double f = raw / p, step = (f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0) * p;
    if (integer && step < 1.0) step = 1.0;
    a->step = step;
    a->lo = lo - AXIS_MARGIN * (hi - lo);
    a->hi = hi + AXIS_MARGIN * (hi - lo);
    a->first = ceil(a->lo / step - 1e-9) * step;
    a->decimals = step >= 1.0 ? 0 : (int)ceil(-log10(step) - 1e-9);
}

typedef struct {
    double x0, y0, x1, y1; /* plot area in pixels (y0 top) */
    axis ax, ay;
    int log_x;             /* ax is over log10(x): tick labels are 10^v */
} frame;

static double px_x(const frame *f, double x) {
    return f->x0 + (x - f->ax.lo) / (f->ax.hi - f->ax.lo) * (f->x1 - f->x0);
}
static double px_y(const frame *f, double y) {
    return f->y1 - (y - f->ay.lo) / (f->ay.hi - f->ay.lo) * (f->y1 - f->y0);
}

/* cairo's text calls on s made valid UTF-8 (ct_utf8_clean): cairo draws nothing more after
 * invalid text (a class named in Latin-1, a label cut mid-character), and says so only at the
 * end, the whole picture failed */
static void text_extents(cairo_t *cr, const char *s, cairo_text_extents_t *e) {
    char t[1024];
    cairo_text_extents(cr, ct_utf8_clean(t, sizeof t, s), e);
}
static void show_text(cairo_t *cr, const char *s) {
    char t[1024];
    cairo_show_text(cr, ct_utf8_clean(t, sizeof t, s));
}

static void text_at(cairo_t *cr, const char *s, double x, double y, double ax, double ay) {
    cairo_text_extents_t e;
    text_extents(cr, s, &e);
    cairo_move_to(cr, x - e.x_bearing - ax * e.width, y - e.y_bearing - ay * e.height);
    show_text(cr, s);
}

static void draw_axes(cairo_t *cr, const frame *f, const char *xlabel, const char *ylabel) {
    char buf[64];
    cairo_set_font_size(cr, 12);
    cairo_set_line_width(cr, 1.0);
    for (double v = f->ay.first; v <= f->ay.hi + f->ay.step * 1e-6; v += f->ay.step) {
        double y = round(px_y(f, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, f->x0, y);
        cairo_line_to(cr, f->x1, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, f->x0 - 5, y);
        cairo_line_to(cr, f->x0, y);
        cairo_stroke(cr);
        snprintf(buf, sizeof buf, "%.*f", f->ay.decimals, fabs(v) < 1e-12 ? 0.0 : v);
        text_at(cr, buf, f->x0 - 8, y, 1.0, 0.5);
    }
    for (double v = f->ax.first; v <= f->ax.hi + f->ax.step * 1e-6; v += f->ax.step) {
        double x = round(px_x(f, v)) + 0.5;
        cairo_set_source_rgb(cr, 0.9, 0.9, 0.9);
        cairo_move_to(cr, x, f->y0);
        cairo_line_to(cr, x, f->y1);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        cairo_move_to(cr, x, f->y1);
        cairo_line_to(cr, x, f->y1 + 5);
        cairo_stroke(cr);
        if (f->log_x) snprintf(buf, sizeof buf, "%.3g", pow(10.0, v)); /* (the lr itself) */
        else snprintf(buf, sizeof buf, "%.*f", f->ax.decimals, fabs(v) < 1e-12 ? 0.0 : v);
        text_at(cr, buf, x, f->y1 + 8, 0.5, 0.0);
    }
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_rectangle(cr, round(f->x0) + 0.5, round(f->y0) + 0.5, round(f->x1 - f->x0),
                    round(f->y1 - f->y0));
    cairo_stroke(cr);
    cairo_set_font_size(cr, 14);
    text_at(cr, xlabel ? xlabel : "", (f->x0 + f->x1) / 2, f->y1 + 30, 0.5, 0.0);
    cairo_save(cr);
    cairo_translate(cr, f->x0 - 62, (f->y0 + f->y1) / 2);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, ylabel ? ylabel : "", 0, 0, 0.5, 0.0);
    cairo_restore(cr);
}

static const double k_muted_rgb[3] = {0.72, 0.72, 0.72}; /* ct_plot_opts.muted's lines */
#define MUTED_LINE_WIDTH 1.0
#define MUTED_MARKER_RADIUS 2.0

static void draw_series(cairo_t *cr, const frame *f, const ct_series *s, const double *rgb,
                        int markers) {
    cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
    cairo_set_line_width(cr, rgb == k_muted_rgb ? MUTED_LINE_WIDTH : LINE_WIDTH);
    int pen = 0;
    for (int i = 0; i < s->n; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) {
            pen = 0;
            continue;
        }
        if (pen) cairo_line_to(cr, px_x(f, s->x[i]), px_y(f, s->y[i]));
        else cairo_move_to(cr, px_x(f, s->x[i]), px_y(f, s->y[i]));
        pen = 1;
    }
    cairo_stroke(cr);
    for (int i = 0; markers && i < s->n && s->n <= MARKER_MAX_POINTS; i++) {
        if (!isfinite(s->x[i]) || !isfinite(s->y[i])) continue;
        cairo_arc(cr, px_x(f, s->x[i]), px_y(f, s->y[i]),
                  rgb == k_muted_rgb ? MUTED_MARKER_RADIUS : MARKER_RADIUS, 0, 2 * M_PI);
        cairo_fill(cr);
    }
}

#define END_RADIUS 6.0 /* ct_plot_opts.end_x's diamonds: centre to corner */

/* A hollow diamond about (x, y), in the colour set. */
static void diamond(cairo_t *cr, double x, double y) {
    cairo_set_line_width(cr, 2.0);
    cairo_move_to(cr, x, y - END_RADIUS);
    cairo_line_to(cr, x + END_RADIUS, y);
    cairo_line_to(cr, x, y + END_RADIUS);
    cairo_line_to(cr, x - END_RADIUS, y);
    cairo_close_path(cr);
    cairo_stroke(cr);
}

/* Series k's end point (ct_plot_opts.end_x), when it has one. */
static int end_point(const ct_plot_opts *o, int k, double *x, double *y) {
    if (!o->end_x || !o->end_y || !isfinite(o->end_x[k]) || !isfinite(o->end_y[k])) return 0;
    *x = o->end_x[k], *y = o->end_y[k];
    return 1;
}

/* Legend in the corner (of four) that covers the fewest points (of the nm muted series ms
 * and the end points too): a row per series, then the muted lines' row (muted: its label, or
 * NULL), the end points' (end: its label, or NULL) and the mark's (mark: its label, or NULL). */
static void draw_legend(cairo_t *cr, const frame *f, const ct_series *s, int n, int markers,
                        const ct_plot_opts *o, const char *muted, const char *end,
                        const char *mark) {
    const ct_series *ms = o->muted;
    const int nm = o->n_muted;
    cairo_set_font_size(cr, 12);
    double tw = 0;
    for (int i = 0; i <= n + 2; i++) {
        const char *label = i < n ? s[i].label : i == n ? muted : i == n + 1 ? end : mark;
        if (i >= n && !label) continue;
        cairo_text_extents_t e;
        text_extents(cr, label ? label : "", &e);
        tw = e.x_advance > tw ? e.x_advance : tw;
    }
    int rows = n + (muted != NULL) + (end != NULL) + (mark != NULL);
    double lh = 18, bw = tw + 44, bh = rows * lh + 10, m = 10, best_x = 0, best_y = 0;
    int best = -1;
    for (int corner = 0; corner < 4; corner++) {
        double bx = corner & 1 ? f->x0 + m : f->x1 - m - bw;
        double by = corner & 2 ? f->y1 - m - bh : f->y0 + m;
        int hidden = 0; /* points of the lines (sampled along each segment) under the box */
        for (int k = 0; k < n + nm; k++) {
            const ct_series *sk = k < n ? &s[k] : &ms[k - n];
            for (int i = 0; i < sk->n; i++)
                for (int t = 0; t < LEGEND_SAMPLES && (t == 0 || i + 1 < sk->n); t++) {
                    double u = (double)t / LEGEND_SAMPLES, x0 = sk->x[i], y0 = sk->y[i];
                    double x1 = t ? sk->x[i + 1] : x0, y1 = t ? sk->y[i + 1] : y0;
                    double x = px_x(f, x0 + u * (x1 - x0)), y = px_y(f, y0 + u * (y1 - y0));
                    hidden += (t ? 1 : LEGEND_SAMPLES) * (x >= bx - 4 && x <= bx + bw + 4 &&
                                                          y >= by - 4 && y <= by + bh + 4);
                }
        }
        double ex, ey;
        for (int k = 0; k < n; k++)
            if (end_point(o, k, &ex, &ey)) {
                double x = px_x(f, ex), y = px_y(f, ey);
                hidden += LEGEND_SAMPLES * (x >= bx - 8 && x <= bx + bw + 8 && y >= by - 8 &&
                                            y <= by + bh + 8);
            }
        if (best < 0 || hidden < best) best = hidden, best_x = bx, best_y = by;
    }
    cairo_set_source_rgba(cr, 1, 1, 1, 0.9);
    cairo_rectangle(cr, best_x, best_y, bw, bh);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1.0);
    cairo_stroke(cr);
    for (int k = 0; k < n; k++) {
        const double *rgb = k_colours[k % N_COLOURS];
        double y = best_y + 5 + lh * k + lh / 2;
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        cairo_set_line_width(cr, LINE_WIDTH);
        cairo_move_to(cr, best_x + 8, y);
        cairo_line_to(cr, best_x + 32, y);
        cairo_stroke(cr);
        if (markers && s[k].n <= MARKER_MAX_POINTS) {
            cairo_arc(cr, best_x + 20, y, MARKER_RADIUS, 0, 2 * M_PI);
            cairo_fill(cr);
        }
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, s[k].label ? s[k].label : "", best_x + 38, y, 0.0, 0.5);
    }
    if (muted) { /* the muted lines: a thin grey one */
        double y = best_y + 5 + lh * n + lh / 2;
        cairo_set_source_rgb(cr, k_muted_rgb[0], k_muted_rgb[1], k_muted_rgb[2]);
        cairo_set_line_width(cr, MUTED_LINE_WIDTH);
        cairo_move_to(cr, best_x + 8, y);
        cairo_line_to(cr, best_x + 32, y);
        cairo_stroke(cr);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, muted, best_x + 38, y, 0.0, 0.5);
    }
    if (end) { /* the end points: a grey diamond */
        double y = best_y + 5 + lh * (n + (muted != NULL)) + lh / 2;
        cairo_set_source_rgb(cr, 0.35, 0.35, 0.35);
        diamond(cr, best_x + 20, y);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, end, best_x + 38, y, 0.0, 0.5);
    }
    if (mark) { /* the marked x: a dashed red line */
        double y = best_y + 5 + lh * (n + (muted != NULL) + (end != NULL)) + lh / 2;
        cairo_set_source_rgb(cr, k_mark_rgb[0], k_mark_rgb[1], k_mark_rgb[2]);
        cairo_set_line_width(cr, 1.5);
        cairo_set_dash(cr, k_mark_dash, 2, 0);
        cairo_move_to(cr, best_x + 8, y);
        cairo_line_to(cr, best_x + 32, y);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
        cairo_set_source_rgb(cr, 0, 0, 0);
        text_at(cr, mark, best_x + 38, y, 0.0, 0.5);
    }
}

static ct_status plot_chart(const char *path, const char *title, const char *xlabel,
                            const char *ylabel, const ct_series *series, int n_series, int width,
                            int height, const ct_plot_opts *opts);

ct_status ct_plot_png(const char *path, const char *title, const char *xlabel,
                      const char *ylabel, const ct_series *series, int n_series, int width,
                      int height) {
    return ct_plot_png_opts(path, title, xlabel, ylabel, series, n_series, width, height, NULL);
}

/* The dashed vertical line of opts->mark (its label goes in the legend). */
static void draw_mark(cairo_t *cr, const frame *f, double x) {
    double px = round(px_x(f, x)) + 0.5;
    if (!(px >= f->x0 && px <= f->x1)) return;
    cairo_set_source_rgb(cr, k_mark_rgb[0], k_mark_rgb[1], k_mark_rgb[2]);
    cairo_set_line_width(cr, 1.5);
    cairo_set_dash(cr, k_mark_dash, 2, 0);
    cairo_move_to(cr, px, f->y0);
    cairo_line_to(cr, px, f->y1);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
}

ct_status ct_plot_png_opts(const char *path, const char *title, const char *xlabel,
                           const char *ylabel, const ct_series *series, int n_series, int width,
                           int height, const ct_plot_opts *opts) {
    if (width < 200 || height < 150 || width > 8192 || height > 8192 || n_series < 0 ||
        (n_series && !series))
        return ct_fail(CT_ERR_INVALID, "%s: plot of %dx%d pixels with %d series", path, width,
                       height, n_series);
    const ct_plot_opts none = {0};
    if (!opts) opts = &none;
    if (opts->n_muted < 0 || (opts->n_muted && !opts->muted) || (opts->n_muted && opts->log_x))
        return ct_fail(CT_ERR_INVALID, "%s: %d muted series%s", path, opts->n_muted,
                       opts->log_x ? " on a log x axis" : "");
    if ((opts->end_x || opts->end_y) && (!opts->end_x || !opts->end_y || opts->log_x))
        return ct_fail(CT_ERR_INVALID, "%s: end points %s", path,
                       opts->log_x ? "on a log x axis" : "need both x and y");
    ct_series *logged = NULL; /* with log_x: the series over log10(x) (x <= 0: NaN, skipped) */
    double *lx = NULL;
    if (opts->log_x && n_series > 0) {
        int64_t total = 0;
        for (int k = 0; k < n_series; k++) total += series[k].n > 0 ? series[k].n : 0;
        lx = malloc((size_t)(total > 0 ? total : 1) * sizeof *lx);
        logged = malloc((size_t)n_series * sizeof *logged);
        if (!lx || !logged) {
            free(lx);
            free(logged);
            return ct_fail(CT_ERR_NOMEM, "%s: out of memory for the plot", path);
        }
        double *p = lx;
        for (int k = 0; k < n_series; k++) {
            logged[k] = series[k];
            logged[k].x = p;
            for (int i = 0; i < series[k].n; i++)
                *p++ = series[k].x[i] > 0 ? log10(series[k].x[i]) : NAN;
        }
        series = logged;
    }
    ct_status s = plot_chart(path, title, xlabel, ylabel, series, n_series, width, height, opts);
    free(lx);
    free(logged);
    return s;
}

static ct_status plot_chart(const char *path, const char *title, const char *xlabel,
                            const char *ylabel, const ct_series *series, int n_series, int width,
                            int height, const ct_plot_opts *opts) {
    double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
    int integer_x = 1;
    for (int k = 0; k < n_series + opts->n_muted; k++) {
        const ct_series *sk = k < n_series ? &series[k] : &opts->muted[k - n_series];
        for (int i = 0; i < sk->n; i++) {
            double x = sk->x[i], y = sk->y[i];
            if (!isfinite(x) || !isfinite(y)) continue;
            xmin = fmin(xmin, x), xmax = fmax(xmax, x), ymin = fmin(ymin, y), ymax = fmax(ymax, y);
            integer_x &= x == floor(x);
        }
    }
    int n_ends = 0;
    for (int k = 0; k < n_series; k++) {
        double x, y;
        if (!end_point(opts, k, &x, &y)) continue;
        xmin = fmin(xmin, x), xmax = fmax(xmax, x), ymin = fmin(ymin, y), ymax = fmax(ymax, y);
        integer_x &= x == floor(x);
        n_ends++;
    }
    if (!(xmax >= xmin)) xmin = 0, xmax = 1, ymin = 0, ymax = 1; /* nothing to draw yet */
    frame f = {.x0 = 90, .y0 = 50, .x1 = width - 25, .y1 = height - 60, .log_x = opts->log_x};
    /* (log, over two decades or more: ticks at powers of ten; over less, at nice exponents) */
    nice_axis(xmin, xmax, integer_x || (opts->log_x && xmax - xmin >= 2.0), &f.ax);
    nice_axis(ymin, ymax, 0, &f.ay);

    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    draw_axes(cr, &f, xlabel, ylabel);
    cairo_save(cr);
    cairo_rectangle(cr, f.x0, f.y0, f.x1 - f.x0, f.y1 - f.y0);
    cairo_clip(cr);
    for (int k = 0; k < opts->n_muted; k++) /* (behind the others; small dots, so that one of
                                              * a single point shows) */
        draw_series(cr, &f, &opts->muted[k], k_muted_rgb, 1);
    for (int k = 0; k < n_series; k++)
        draw_series(cr, &f, &series[k], k_colours[k % N_COLOURS], !opts->lines_only);
    for (int k = 0; k < n_series; k++) {
        double x, y;
        const double *rgb = k_colours[k % N_COLOURS];
        if (!end_point(opts, k, &x, &y)) continue;
        cairo_set_source_rgb(cr, rgb[0], rgb[1], rgb[2]);
        diamond(cr, px_x(&f, x), px_y(&f, y));
    }
    cairo_restore(cr);
    int mark = opts->mark && isfinite(opts->mark_x) && (!opts->log_x || opts->mark_x > 0);
    if (mark) draw_mark(cr, &f, opts->log_x ? log10(opts->mark_x) : opts->mark_x);
    const char *muted = opts->n_muted > 0 ? opts->muted_label : NULL;
    const char *end = n_ends > 0 ? opts->end_label : NULL;
    if (n_series > 0 || (mark && opts->mark_label) || muted || end)
        draw_legend(cr, &f, series, n_series, !opts->lines_only, opts, muted, end,
                    mark ? opts->mark_label : NULL);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 16);
    cairo_set_source_rgb(cr, 0, 0, 0);
    text_at(cr, title ? title : "", (f.x0 + f.x1) / 2, 16, 0.5, 0.0);
    return finish_png(cr, surface, path);
}

/* ------------------------------------------------------------------------------------------ */
/* image grids                                                                                 */

/* One dataset image (c, h, w) as a cairo surface (grey or RGB). */
static cairo_surface_t *image_surface(const uint8_t *img, int c, int h, int w) {
    cairo_surface_t *s = cairo_image_surface_create(CAIRO_FORMAT_RGB24, w, h);
    if (cairo_surface_status(s) != CAIRO_STATUS_SUCCESS) return s;
    cairo_surface_flush(s);
    unsigned char *data = cairo_image_surface_get_data(s);
    int stride = cairo_image_surface_get_stride(s);
    size_t plane = (size_t)h * w;
    for (int y = 0; y < h; y++) {
        uint32_t *row = (uint32_t *)(data + (size_t)y * stride);
        for (int x = 0; x < w; x++) {
            size_t i = (size_t)y * w + x;
            uint32_t r = img[i], g = c >= 3 ? img[plane + i] : r, b = c >= 3 ? img[2 * plane + i] : r;
            row[x] = r << 16 | g << 8 | b;
        }
    }
    cairo_surface_mark_dirty(s);
    return s;
}

/* Sets the largest font size from 13 down to 7 at which s is at most max_w pixels wide;
 * 0 when it is wider even at 7. */
static int fit_text(cairo_t *cr, const char *s, double max_w) {
    for (int size = 13; size >= 7; size--) {
        cairo_text_extents_t e;
        cairo_set_font_size(cr, size);
        text_extents(cr, s, &e);
        if (e.x_advance <= max_w) return size;
    }
    return 0;
}

/* The text of class k under an image: its name when there is one and it fits the cell's
 * width (the font shrunk as far as 7 pixels), else the number; prefix goes before it. */
static void class_text(cairo_t *cr, char *out, size_t cap, const char *prefix, int k,
                       const char *const *names, int n_names, double max_w) {
    const char *name = names && k >= 0 && k < n_names ? names[k] : NULL;
    if (name) {
        snprintf(out, cap, "%s%s", prefix, name);
        if (fit_text(cr, out, max_w)) return;
    }
    snprintf(out, cap, "%s%d", prefix, k);
    if (!fit_text(cr, out, max_w)) cairo_set_font_size(cr, 7);
}

/* ct_grid_png, or with captions (non-NULL) each image's caption in white instead of labels */
static ct_status grid_png(const char *path, const uint8_t *images, int n, int c, int h, int w,
                          const int *labels, const int *preds, const char *const *names,
                          int n_names, const char *const *captions, int cols, int scale,
                          const char *title) {
    if ((int64_t)w * scale > 4096 || (int64_t)h * scale > 4096)
        return ct_fail(CT_ERR_INVALID, "images of %dx%d pixels at scale %d are more than 4096 "
                       "pixels a side in a grid", h, w, scale);
    if (n <= 0 || (c != 1 && c != 3) || h <= 0 || w <= 0 || cols <= 0 || scale <= 0 ||
        !images || n > 4096)
        return ct_fail(CT_ERR_INVALID, "a grid of %d images (%d, %d, %d), %d columns, scale %d "
                       "(1 to 4096 images of 1 or 3 channels)", n, c, h, w, cols, scale);
    if (cols > n) cols = n;
    if (captions) labels = preds = NULL;
    /* with class names, a wrong prediction's name gets a second line under the label's */
    int two_lines = labels && preds && names && n_names > 0;
    int rows = (n + cols - 1) / cols, label_h = labels || captions ? (two_lines ? 34 : 18) : 0;
    int title_h = title ? 30 : 0;
    int cell_w = w * scale + GRID_PAD, cell_h = h * scale + GRID_PAD + label_h;
    int width = cols * cell_w + GRID_PAD, height = title_h + rows * cell_h + GRID_PAD;
    if (width < 160) width = 160;
    if (title) { /* the title whole: the picture at least as wide as it */
        cairo_surface_t *probe = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
        cairo_t *pc = cairo_create(probe);
        cairo_select_font_face(pc, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
        cairo_set_font_size(pc, 14);
        cairo_text_extents_t e;
        text_extents(pc, title, &e);
        if (e.width + 2 * GRID_PAD + 8 > width && e.width < 4096)
            width = (int)e.width + 2 * GRID_PAD + 8;
        cairo_destroy(pc);
        cairo_surface_destroy(probe);
    }
    if ((int64_t)width * height > (1 << 26) || width > 32767 || height > 32767) /* cairo's */
        return ct_fail(CT_ERR_INVALID, "a grid of %dx%d pixels is more than cairo can draw "
                       "(fewer images or columns, or a smaller scale)", width, height);
    int x0 = (width - (cols * cell_w + GRID_PAD)) / 2; /* the grid centred under the title */
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 0, 0, 0); /* make_grid's pad_value 0 */
    cairo_paint(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    if (title) {
        cairo_set_font_size(cr, 14);
        cairo_set_source_rgb(cr, 1, 1, 1);
        text_at(cr, title, width / 2.0, 8, 0.5, 0.0);
    }
    for (int i = 0; i < n; i++) {
        double x = x0 + GRID_PAD + (i % cols) * cell_w, y = title_h + GRID_PAD + (i / cols) * cell_h;
        cairo_surface_t *img = image_surface(images + (size_t)i * c * h * w, c, h, w);
        cairo_save(cr);
        cairo_translate(cr, x, y);
        cairo_scale(cr, scale, scale);
        cairo_set_source_surface(cr, img, 0, 0);
        cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_NEAREST);
        cairo_paint(cr);
        cairo_restore(cr);
        cairo_surface_destroy(img);
        double max_w = w * scale - 2, cx = x + w * scale / 2.0;
        if (captions && captions[i]) {
            cairo_set_font_size(cr, 12);
            if (!fit_text(cr, captions[i], max_w)) cairo_set_font_size(cr, 7);
            cairo_set_source_rgb(cr, 1, 1, 1);
            text_at(cr, captions[i], cx, y + h * scale + 3, 0.5, 0.0);
        }
        if (!labels) continue;
        int wrong = preds && preds[i] != labels[i];
        char text[96], second[96];
        if (wrong && !two_lines) {
            snprintf(text, sizeof text, "%d \u2192 %d", labels[i], preds[i]);
            if (!fit_text(cr, text, max_w)) cairo_set_font_size(cr, 7);
        } else {
            class_text(cr, text, sizeof text, "", labels[i], names, n_names, max_w);
        }
        if (wrong) { /* a red frame inside the cell, and the label in red */
            cairo_set_source_rgb(cr, 0.9, 0.1, 0.1);
            cairo_set_line_width(cr, 2.0);
            cairo_rectangle(cr, x + 1, y + 1, w * scale - 2, h * scale - 2);
            cairo_stroke(cr);
        } else if (preds) {
            cairo_set_source_rgb(cr, 0.5, 0.9, 0.5);
        } else {
            cairo_set_source_rgb(cr, 1, 1, 1);
        }
        text_at(cr, text, cx, y + h * scale + 3, 0.5, 0.0);
        if (wrong && two_lines) {
            class_text(cr, second, sizeof second, "\u2192 ", preds[i], names, n_names, max_w);
            text_at(cr, second, cx, y + h * scale + 19, 0.5, 0.0);
        }
    }
    return finish_png(cr, surface, path);
}

ct_status ct_grid_png(const char *path, const uint8_t *images, int n, int c, int h, int w,
                      const int *labels, const int *preds, const char *const *names,
                      int n_names, int cols, int scale, const char *title) {
    return grid_png(path, images, n, c, h, w, labels, preds, names, n_names, NULL, cols, scale,
                    title);
}

ct_status ct_grid_png_captions(const char *path, const uint8_t *images, int n, int c, int h,
                               int w, const char *const *captions, int cols, int scale,
                               const char *title) {
    if (!captions)
        return ct_fail(CT_ERR_INVALID, "ct_grid_png_captions: no captions");
    return grid_png(path, images, n, c, h, w, NULL, NULL, NULL, 0, captions, cols, scale, title);
}

/* ------------------------------------------------------------------------------------------ */
/* confusion matrix                                                                            */

#define CM_SIDE 560      /* the matrix's side in pixels (cells of 3 to 100) */
#define CM_MAX_CLASSES 1000
#define CM_BAR_GAP 20   /* between the matrix and its colour bar */
#define CM_BAR_WIDTH 16

ct_status ct_confusion_png(const char *path, const int64_t *cm, int k, const char *const *names,
                           int n_names, const char *title) {
    if (!cm || k < 1 || k > CM_MAX_CLASSES)
        return ct_fail(CT_ERR_INVALID, "%s: confusion matrix of %d classes (1..%d)", path, k,
                       CM_MAX_CLASSES);
    if (names && n_names != k) names = NULL;
    const int cell = CM_SIDE / k > 100 ? 100 : CM_SIDE / k < 3 ? 3 : CM_SIDE / k;
    /* (right: the colour bar, CM_BAR_GAP + CM_BAR_WIDTH wide, and its tick labels) */
    int left = 70, top = 50, bottom = 60, right = CM_BAR_GAP + CM_BAR_WIDTH + 50;
    /* the row labels' width ("3 Dress" beside the rows), and the numbers' under the columns:
     * every step-th class's, so that they stay apart */
    cairo_surface_t *probe = cairo_image_surface_create(CAIRO_FORMAT_RGB24, 1, 1);
    cairo_t *pc = cairo_create(probe);
    cairo_select_font_face(pc, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(pc, 12);
    double row_w = 0.0, num_w;
    char label[96];
    cairo_text_extents_t e;
    snprintf(label, sizeof label, "%d", k - 1);
    text_extents(pc, label, &e);
    num_w = e.x_advance;
    for (int t = 0; t < k; t++) {
        if (names && cell >= 12) snprintf(label, sizeof label, "%d %s", t, names[t] ? names[t] : "");
        else snprintf(label, sizeof label, "%d", t);
        text_extents(pc, label, &e);
        if (e.x_advance > row_w) row_w = e.x_advance;
    }
    cairo_destroy(pc);
    cairo_surface_destroy(probe);
    if (row_w + 40 > left) left = (int)(row_w + 40);
    const int step = (int)ceil((num_w + 6.0) / cell);
    const int side = cell * k, width = left + side + right < 420 ? 420 : left + side + right;
    const int x0 = left + (width - left - right - side) / 2, height = top + side + bottom;
    cairo_surface_t *surface = cairo_image_surface_create(CAIRO_FORMAT_RGB24, width, height);
    cairo_t *cr = cairo_create(surface);
    cairo_set_source_rgb(cr, 1, 1, 1);
    cairo_paint(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    for (int t = 0; t < k; t++) {
        int64_t row = 0;
        for (int p = 0; p < k; p++) row += cm[(int64_t)t * k + p];
        for (int p = 0; p < k; p++) {
            int64_t v = cm[(int64_t)t * k + p];
            double f = row > 0 ? (double)v / (double)row : 0.0; /* white to matplotlib's Blues' end */
            double cx = x0 + p * cell, cy = top + t * cell;
            cairo_set_source_rgb(cr, 1.0 - f * (1.0 - 0.031), 1.0 - f * (1.0 - 0.188),
                                 1.0 - f * (1.0 - 0.420));
            cairo_rectangle(cr, cx, cy, cell, cell);
            cairo_fill(cr);
            if (cell < 16) continue;
            char s[32];
            snprintf(s, sizeof s, "%lld", (long long)v);
            int size = fit_text(cr, s, cell - 4);
            if (!size) continue;
            cairo_set_font_size(cr, size > 12 ? 12 : size);
            cairo_set_source_rgb(cr, f > 0.5 ? 1 : 0, f > 0.5 ? 1 : 0, f > 0.5 ? 1 : 0);
            text_at(cr, s, cx + cell / 2.0, cy + cell / 2.0, 0.5, 0.5);
        }
    }
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_set_line_width(cr, 1.0);
    cairo_rectangle(cr, x0 + 0.5, top + 0.5, side - 1, side - 1);
    cairo_stroke(cr);
    /* the colour bar, as scikit-learn's ConfusionMatrixDisplay draws one: the share of the row
     * from 0 (white, at the bottom) to 1, ticks every 0.2 */
    const double bx = x0 + side + CM_BAR_GAP;
    cairo_pattern_t *grad = cairo_pattern_create_linear(0, top + side, 0, top);
    cairo_pattern_add_color_stop_rgb(grad, 0.0, 1.0, 1.0, 1.0);
    cairo_pattern_add_color_stop_rgb(grad, 1.0, 0.031, 0.188, 0.420);
    cairo_set_source(cr, grad);
    cairo_rectangle(cr, bx, top, CM_BAR_WIDTH, side);
    cairo_fill(cr);
    cairo_pattern_destroy(grad);
    cairo_set_source_rgb(cr, 0.6, 0.6, 0.6);
    cairo_rectangle(cr, bx + 0.5, top + 0.5, CM_BAR_WIDTH - 1, side - 1);
    cairo_stroke(cr);
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 11);
    for (int i = 0; i <= 5; i++) {
        double y = round(top + side - side * i / 5.0) + 0.5;
        cairo_move_to(cr, bx + CM_BAR_WIDTH, y);
        cairo_line_to(cr, bx + CM_BAR_WIDTH + 4, y);
        cairo_stroke(cr);
        snprintf(label, sizeof label, "%.1f", i / 5.0);
        text_at(cr, label, bx + CM_BAR_WIDTH + 7, y, 0.0, 0.5);
    }
    /* class numbers (every step-th: apart), names beside the rows where the cells are tall
     * enough (every row's) */
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_set_font_size(cr, 12);
    const int row_step = cell >= 14 ? 1 : step;
    for (int c = 0; c < k; c++) {
        snprintf(label, sizeof label, "%d", c);
        if (c % step == 0)
            text_at(cr, label, x0 + c * cell + cell / 2.0, top + side + 4, 0.5, 0.0);
        if (c % row_step) continue;
        if (names && cell >= 12)
            snprintf(label, sizeof label, "%d %s", c, names[c] ? names[c] : "");
        text_at(cr, label, x0 - 6, top + c * cell + cell / 2.0, 1.0, 0.5);
    }
    cairo_set_font_size(cr, 13);
    text_at(cr, "predicted class", x0 + side / 2.0, top + side + 24, 0.5, 0.0);
    cairo_save(cr);
    cairo_translate(cr, x0 - row_w - 24, top + side / 2.0);
    cairo_rotate(cr, -M_PI / 2);
    text_at(cr, "true class", 0, 0, 0.5, 0.5);
    cairo_restore(cr);
    cairo_select_font_face(cr, FONT, CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 15);
    text_at(cr, title ? title : "", width / 2.0, 16, 0.5, 0.0);
    return finish_png(cr, surface, path);
}
