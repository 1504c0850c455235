/*
 * json_out.h — writing JSON text into a growing buffer (the safetensors header, metadata values,
 * metric lines). Parsing is jansson's job; writing is simple enough to do here, exactly as we
 * want it: numbers in the fewest digits that read back to the same value (a float's as readers
 * read one, (float)strtod), non-finite numbers as null, and
 * strings escaped with invalid UTF-8 replaced by U+FFFD (a JSON parser would reject the header).
 *
 * Errors are sticky: after an allocation failure every call does nothing and failed is set.
 */
#ifndef CT_IO_JSON_OUT_H
#define CT_IO_JSON_OUT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *buf;   /* NUL-terminated text (NULL until something is written) */
    size_t len, cap;
    int failed;  /* an allocation failed */
} ct_jsonw;

void ct_jw_init(ct_jsonw *j);
void ct_jw_free(ct_jsonw *j);
void ct_jw_raw(ct_jsonw *j, const char *text, size_t n); /* appends text as it is */
void ct_jw_printf(ct_jsonw *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ct_jw_string(ct_jsonw *j, const char *s);           /* "s", escaped */
/* The fewest significant digits that read back as the same value (as Python's repr): 0.9527,
 * not 0.95269999999999999; a double exactly (15 to 17 digits), a float as (float)strtod reads
 * it (6 to 9). buf: 40 bytes. */
void ct_fmt_double(char *buf, size_t bytes, double v);
void ct_fmt_float(char *buf, size_t bytes, float v);
void ct_jw_double(ct_jsonw *j, double v);                /* shortest exact, or null */
void ct_jw_float(ct_jsonw *j, float v);                  /* shortest that reads back, or null */
void ct_jw_key(ct_jsonw *j, int first, const char *key); /* [,]"key": */
/* src into dst (bytes > 0) as valid UTF-8: each byte that starts no valid sequence as U+FFFD, cut
 * at a character's end where dst is full (cairo refuses to draw invalid UTF-8: a class folder
 * named in Latin-1, a long name cut mid-character). Returns dst. */
char *ct_utf8_clean(char *dst, size_t bytes, const char *src);

#endif /* CT_IO_JSON_OUT_H */
