/*
 * progress.c — the training progress bar (see progress.h).
 */
#include "progress.h"

#include "cli.h"

#include "ctrain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define BAR_MAX_WIDTH 30 /* characters between the brackets */
#define BAR_MIN_WIDTH 10
#define LINE_MAX_BYTES 256

void progress_init(progress_bar *p, FILE *out, int total_epochs) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->total_epochs = total_epochs;
    p->last_draw_s = -1.0;
}

static int terminal_columns(FILE *out) {
    struct winsize ws;
    if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
    return 80;
}

/* "0.4s", "2m05s", "1h03m" */
static void format_eta(char *out, size_t n, double s) {
    if (s < 0) s = 0;
    if (s < 60)
        snprintf(out, n, "%.1fs", s);
    else if (s < 3600)
        snprintf(out, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
    else
        snprintf(out, n, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
}

int progress_due(const progress_bar *p, int64_t done, int64_t total) {
    if (!p->out || total <= 0) return 0;
    return p->drawn_len == 0 || done >= total || ct_time_s() - p->last_draw_s >= PROGRESS_REDRAW_S;
}

/* "950 samples/s", "61k samples/s", "1.2M samples/s" */
static void format_rate(char *out, size_t n, double r) {
    if (r >= 1e6)
        snprintf(out, n, "%.1fM samples/s", r / 1e6);
    else if (r >= 1e4)
        snprintf(out, n, "%.0fk samples/s", r / 1e3);
    else
        snprintf(out, n, "%.0f samples/s", r);
}

void progress_step(progress_bar *p, int epoch, int64_t done, int64_t total, int64_t samples,
                   double elapsed_s, const double metrics[2]) {
    if (!progress_due(p, done, total)) return;
    p->last_draw_s = ct_time_s();

    /* the parts around the bar (a diverging run's loss: "nan", as cli_metric prints it) */
    char head[48], tail[160], eta[24], met[64] = "", rate[32];
    snprintf(head, sizeof head, "epoch %d/%d ", epoch + 1, p->total_epochs);
    format_rate(rate, sizeof rate, elapsed_s > 0 ? (double)samples / elapsed_s : 0.0);
    double left_s = done > 0 ? elapsed_s * (double)(total - done) / (double)done : 0.0;
    format_eta(eta, sizeof eta, left_s);
    if (metrics)
        snprintf(met, sizeof met, "  loss %.4f acc %.4f", cli_metric(metrics[0]), metrics[1]);

    /* fit the line into the terminal, never wrapping (a wrapped line cannot be erased with \r):
     * where the bar would be too narrow, the rate goes first */
    int cols = terminal_columns(p->out) - 1;
    if (cols > LINE_MAX_BYTES - 1) cols = LINE_MAX_BYTES - 1;
    int width = 0, digits = snprintf(NULL, 0, "%lld", (long long)total); /* a steady width */
    for (int with_rate = 1; with_rate >= 0; with_rate--) {
        snprintf(tail, sizeof tail, " %*lld/%lld%s%s%s  ETA %s", digits, (long long)done,
                 (long long)total, met, with_rate ? "  " : "", with_rate ? rate : "", eta);
        width = cols - (int)strlen(head) - (int)strlen(tail) - 2;
        if (width >= BAR_MIN_WIDTH) break;
    }
    if (width > BAR_MAX_WIDTH) width = BAR_MAX_WIDTH;

    char line[LINE_MAX_BYTES];
    int len = snprintf(line, sizeof line, "%s", head);
    if (width >= BAR_MIN_WIDTH) {
        int fill = (int)((double)width * (double)done / (double)total);
        if (fill > width) fill = width;
        line[len++] = '[';
        for (int i = 0; i < width; i++)
            line[len++] = i < fill ? '=' : (i == fill ? '>' : ' ');
        line[len++] = ']';
        line[len] = 0;
    }
    len += snprintf(line + len, sizeof line - (size_t)len, "%s", tail);
    if (len > cols) len = cols > 0 ? cols : 0;

    /* one write: \r, the line, and spaces over what a longer previous line left */
    char buf[2 * LINE_MAX_BYTES + 2];
    int n = 0;
    buf[n++] = '\r';
    memcpy(buf + n, line, (size_t)len);
    n += len;
    int pad = p->drawn_len > len ? p->drawn_len - len : 0;
    memset(buf + n, ' ', (size_t)pad);
    n += pad;
    fwrite(buf, 1, (size_t)n, p->out);
    fflush(p->out);
    p->drawn_len = len + pad > 0 ? len + pad : 1;
}

void progress_clear(progress_bar *p) {
    if (!p->out || p->drawn_len == 0) return;
    const char *term = getenv("TERM");
    if (term && *term && strcmp(term, "dumb") != 0) {
        fputs("\r\033[K", p->out); /* also erases what the terminal echoed after the bar (^C) */
    } else {
        char buf[2 * LINE_MAX_BYTES + 8];
        int n = 0, w = p->drawn_len + 4; /* drawn_len < LINE_MAX_BYTES; + an echoed ^C */
        buf[n++] = '\r';
        memset(buf + n, ' ', (size_t)w);
        n += w;
        buf[n++] = '\r';
        fwrite(buf, 1, (size_t)n, p->out);
    }
    fflush(p->out);
    p->drawn_len = 0;
}
