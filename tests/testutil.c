/*
 * testutil.c — see testutil.h.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char g_tmpdir[256];

static void tu_cleanup(void) {
    if (!g_tmpdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", g_tmpdir);
}

const char *tu_tmpdir(void) {
    if (!g_tmpdir[0]) {
        snprintf(g_tmpdir, sizeof g_tmpdir, "/tmp/ctrain-test-XXXXXX");
        if (!mkdtemp(g_tmpdir)) { perror("mkdtemp"); exit(2); }
        atexit(tu_cleanup);
    }
    return g_tmpdir;
}

const char *tu_write_file(int slot, const char *name, const void *bytes, size_t n) {
    static char paths[8][512];
    snprintf(paths[slot], sizeof paths[slot], "%s/%s", tu_tmpdir(), name);
    FILE *f = fopen(paths[slot], "wb");
    if (!f) { perror(paths[slot]); exit(2); }
    if (n && fwrite(bytes, 1, n, f) != n) { perror(paths[slot]); exit(2); }
    fclose(f);
    return paths[slot];
}

const char *tu_mnist_dir(const char *test) {
    static char dir[512];
    if (ct_data_dir(NULL, "mnist", dir, sizeof dir) != CT_OK) {
        printf("SKIP %s: %s\n", test, ct_last_error());
        return NULL;
    }
    const char *files[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                           "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
    for (int i = 0; i < 4; i++) {
        char p[600];
        struct stat st;
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        if (stat(p, &st) != 0) {
            printf("SKIP %s: MNIST not found in %s (run `ctrain data fetch mnist`)\n", test, dir);
            return NULL;
        }
    }
    return dir;
}

void *hmalloc(size_t bytes) {
    void *p = calloc(1, bytes ? bytes : 1);
    assert_non_null(p);
    return p;
}

void *dalloc(ct_backend *b, size_t bytes) {
    void *p = NULL;
    OK(b->alloc(b, bytes ? bytes : 1, &p));
    assert_non_null(p);
    return p;
}

void *dput(ct_backend *b, const void *host, size_t bytes) {
    void *p = dalloc(b, bytes);
    OK(b->h2d(b, p, host, bytes));
    return p;
}

void dget(ct_backend *b, void *host, const void *dev, size_t bytes) {
    OK(b->d2h(b, host, dev, bytes));
}
