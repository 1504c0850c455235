/*
 * json_out.c — JSON text writing (see json_out.h).
 */
#include "io/json_out.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ct_jw_init(ct_jsonw *j) { memset(j, 0, sizeof *j); }

void ct_jw_free(ct_jsonw *j) {
    free(j->buf);
    memset(j, 0, sizeof *j);
}

static int grow(ct_jsonw *j, size_t extra) {
    if (j->failed) return 0;
    if (j->len + extra + 1 <= j->cap) return 1;
    size_t cap = j->cap ? j->cap : 256;
    while (cap < j->len + extra + 1) {
        if (cap > SIZE_MAX / 2) { j->failed = 1; return 0; }
        cap *= 2;
    }
    char *b = realloc(j->buf, cap);
    if (!b) { j->failed = 1; return 0; }
    j->buf = b;
    j->cap = cap;
    return 1;
}

void ct_jw_raw(ct_jsonw *j, const char *text, size_t n) {
    if (!grow(j, n)) return;
    memcpy(j->buf + j->len, text, n);
    j->len += n;
    j->buf[j->len] = 0;
}

void ct_jw_printf(ct_jsonw *j, const char *fmt, ...) {
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) { j->failed = 1; return; }
    if ((size_t)n < sizeof small) { ct_jw_raw(j, small, (size_t)n); return; }
    if (!grow(j, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(j->buf + j->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    j->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when it is not one. */
static int utf8_len(const unsigned char *s) {
    unsigned c = s[0];
    int n;
    unsigned min;
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) n = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0) n = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0) n = 4, min = 0x10000, c &= 0x07;
    else return 0;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    return n;
}

char *ct_utf8_clean(char *dst, size_t bytes, const char *src) {
    const unsigned char *s = (const unsigned char *)(src ? src : "");
    size_t at = 0;
    while (*s) {
        int n = utf8_len(s);
        const char *put = n ? (const char *)s : "\xEF\xBF\xBD";
        size_t len = n ? (size_t)n : 3;
        if (at + len >= bytes) break;
        memcpy(dst + at, put, len);
        at += len;
        s += n ? n : 1;
    }
    dst[at] = 0;
    return dst;
}

void ct_jw_string(ct_jsonw *j, const char *str) {
    const unsigned char *s = (const unsigned char *)(str ? str : "");
    ct_jw_raw(j, "\"", 1);
    while (*s) {
        unsigned c = *s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ct_jw_raw(j, e, 2);
            s++;
        } else if (c < 0x20) {
            const char *named = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r" : NULL;
            if (named) ct_jw_raw(j, named, 2);
            else ct_jw_printf(j, "\\u%04x", c);
            s++;
        } else {
            int n = utf8_len(s);
            if (n == 0) {
                ct_jw_raw(j, "\\ufffd", 6);
                s++;
            } else {
                ct_jw_raw(j, (const char *)s, (size_t)n);
                s += n;
            }
        }
    }
    ct_jw_raw(j, "\"", 1);
}

void ct_fmt_double(char *buf, size_t bytes, double v) {
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, bytes, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
}

void ct_fmt_float(char *buf, size_t bytes, float v) {
    for (int digits = 6; digits <= 9; digits++) { /* read back as readers do: (float)strtod */
        snprintf(buf, bytes, "%.*g", digits, (double)v);
        if ((float)strtod(buf, NULL) == v) break;
    }
}

void ct_jw_double(ct_jsonw *j, double v) {
    if (!isfinite(v)) {
        ct_jw_raw(j, "null", 4);
        return;
    }
    char buf[40];
    ct_fmt_double(buf, sizeof buf, v);
    ct_jw_printf(j, "%s", buf);
}

void ct_jw_float(ct_jsonw *j, float v) {
    if (!isfinite(v)) {
        ct_jw_raw(j, "null", 4);
        return;
    }
    char buf[40];
    ct_fmt_float(buf, sizeof buf, v);
    ct_jw_printf(j, "%s", buf);
}

void ct_jw_key(ct_jsonw *j, int first, const char *key) {
    if (!first) ct_jw_raw(j, ", ", 2);
    ct_jw_string(j, key);
    ct_jw_raw(j, ": ", 2);
}
