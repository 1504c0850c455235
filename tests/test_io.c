/*
 * test_io.c — the io module's checkpoints without MNIST: safetensors (names, round trip, an
 * independent Python reader, every kind of bad file) and the train state (exact resume).
 * Atomic writes, JSON lines, ct_model_predict and images in: test_files.c; pictures out:
 * test_pictures.c.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include "core/core.h"
#include "ctrain/io.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SPEC "flatten,linear(5),relu,linear(3)"

static ct_backend *cpu(int threads) {
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", threads, &b), CT_OK);
    return b;
}

/* Index of the tensor called name, -1 when absent (through the public API). */
static int find_tensor(const ct_checkpoint *c, const char *name) {
    for (int i = 0; i < ct_checkpoint_tensor_count(c); i++) {
        const char *n;
        assert_int_equal(ct_checkpoint_tensor(c, i, &n, NULL, NULL, NULL, NULL), CT_OK);
        if (!strcmp(n, name)) return i;
    }
    return -1;
}

static float *params_of(ct_model *m) {
    float *p = malloc((size_t)ct_model_param_count(m) * sizeof(float));
    assert_non_null(p);
    assert_int_equal(ct_model_get_params(m, p), CT_OK);
    return p;
}

/* ------------------------------------------------------------------------------------------ */
/* names, round trip, independent reader                                                       */

static void test_version(void **state) {
    (void)state;
    int a, b, c;
    assert_int_equal(sscanf(ct_version(), "%d.%d.%d", &a, &b, &c), 3);
}

static void test_tensor_names(void **state) {
    (void)state;
    ct_backend *b = cpu(1);
    ct_model *m = NULL;
    assert_int_equal(ct_model_create(b, SPEC, 1, 2, 3, 4, 1, &m), CT_OK);
    assert_string_equal(ct_model_spec(m), SPEC);
    assert_int_equal(ct_model_tensor_count(m), 4);
    const char *names[4] = {"linear1.weight", "linear1.bias", "linear2.weight", "linear2.bias"};
    int64_t shapes[4][2] = {{5, 6}, {5, 0}, {3, 5}, {3, 0}}, off = 0;
    for (int i = 0; i < 4; i++) {
        ct_tensor_info t;
        assert_int_equal(ct_model_tensor_info(m, i, &t), CT_OK);
        assert_string_equal(t.name, names[i]);
        assert_int_equal(t.ndim, shapes[i][1] ? 2 : 1);
        assert_int_equal(t.shape[0], shapes[i][0]);
        if (t.ndim == 2) assert_int_equal(t.shape[1], shapes[i][1]);
        assert_int_equal(t.offset, off); /* contiguous, weight then bias */
        off += t.count;
    }
    assert_int_equal(off, ct_model_param_count(m));
    ct_tensor_info t;
    assert_int_equal(ct_model_tensor_info(m, 4, &t), CT_ERR_INVALID);
    ct_model_free(m);
    ct_backend_free(b);
}

static void test_model_round_trip(void **state) {
    (void)state;
    ct_backend *b = cpu(1);
    ct_model *m = NULL, *m2 = NULL;
    assert_int_equal(ct_model_create(b, SPEC, 1, 2, 3, 4, 7, &m), CT_OK);
    const char *path = tu_tmp_path("rt.safetensors");
    /* metadata that needs escaping, and a byte that is not UTF-8 (stored as U+FFFD) */
    ct_meta extra[] = {{"quote", "a \"b\" \\ c\nd\te"}, {"utf8", "caf\xc3\xa9"},
                       {"bad", "x\xffy"}, {"empty", ""}};
    /* metadata no reader could take back is refused, and the file left as it was */
    ct_meta twice[] = {{"format", "x"}}, unnamed[] = {{NULL, "x"}}, valueless[] = {{"k", NULL}};
    assert_int_equal(ct_save_model(m, path, twice, 1), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "\"format\" given twice"));
    assert_int_equal(ct_save_model(m, path, unnamed, 1), CT_ERR_INVALID);
    assert_int_equal(ct_save_model(m, path, valueless, 1), CT_ERR_INVALID);
    /* a header larger than readers take (100 MB) is refused at the save, not found at a load */
    size_t big_bytes = 100000001;
    char *big = malloc(big_bytes + 1);
    assert_non_null(big);
    memset(big, 'x', big_bytes);
    big[big_bytes] = '\0';
    ct_meta huge[] = {{"huge", big}};
    assert_int_equal(ct_save_model(m, path, huge, 1), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "more than safetensors readers accept"));
    free(big);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(ct_save_model(m, path, extra, 4), CT_OK);
    ct_checkpoint *c = NULL;
    assert_int_equal(ct_checkpoint_open(path, &c), CT_OK);
    assert_string_equal(ct_checkpoint_meta(c, "format"), "pt");
    assert_string_equal(ct_checkpoint_meta(c, "model_spec"), SPEC);
    assert_string_equal(ct_checkpoint_meta(c, "input_shape"), "[1, 2, 3]");
    assert_string_equal(ct_checkpoint_meta(c, "classes"), "3");
    assert_string_equal(ct_checkpoint_meta(c, "quote"), "a \"b\" \\ c\nd\te");
    assert_string_equal(ct_checkpoint_meta(c, "utf8"), "caf\xc3\xa9");
    assert_string_equal(ct_checkpoint_meta(c, "bad"), "x\xef\xbf\xbdy");
    assert_string_equal(ct_checkpoint_meta(c, "empty"), "");
    assert_null(ct_checkpoint_meta(c, "absent"));
    assert_int_equal(ct_checkpoint_tensor_count(c), 4);
    const char *name, *dtype;
    int ndim;
    const int64_t *shape;
    const void *data;
    assert_int_equal(ct_checkpoint_tensor(c, 0, &name, &dtype, &ndim, &shape, &data), CT_OK);
    assert_string_equal(dtype, "F32");
    assert_int_equal(ct_checkpoint_tensor(c, 9, &name, &dtype, &ndim, &shape, &data), CT_ERR_INVALID);
    /* a new model from the file has the same parameters, bit for bit */
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 0, 0, 0, 4, &m2), CT_OK);
    float *p1 = params_of(m), *p2 = params_of(m2);
    assert_memory_equal(p1, p2, (size_t)ct_model_param_count(m) * sizeof(float));

    /* an independent reader (Python, standard library) finds the same values */
    const char *src = getenv("CTRAIN_SOURCE_DIR");
    const char *py = access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
    char probe[256];
    snprintf(probe, sizeof probe, "%s -c 'import json, struct' 2>/dev/null", py);
    if (src && system(probe) == 0) {
        const char *dump = tu_tmp_path("params.f32");
        FILE *f = fopen(dump, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(p1, sizeof(float), (size_t)ct_model_param_count(m), f),
                         (size_t)ct_model_param_count(m));
        fclose(f);
        char cmd[2048];
        snprintf(cmd, sizeof cmd, "%s %s/tests/st_tool.py read %s %s", py, src, path, dump);
        assert_int_equal(system(cmd), 0);
    } else {
        printf("SKIP test_model_round_trip (Python part): no python3 or CTRAIN_SOURCE_DIR\n");
    }
    free(p1);
    free(p2);
    ct_checkpoint_free(c);
    ct_model_free(m2);
    ct_model_free(m);
    ct_backend_free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* bad files                                                                                   */

/* Writes [8-byte length][header][data_bytes zero bytes] and expects ct_checkpoint_open to fail
 * with a one-line CT_ERR_FORMAT message naming the file and containing `what`. */
static void expect_bad(const char *header, size_t data_bytes, const char *what) {
    size_t hn = strlen(header), n = 8 + hn + data_bytes;
    uint8_t *buf = calloc(1, n);
    assert_non_null(buf);
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)hn >> (8 * k));
    memcpy(buf + 8, header, hn);
    const char *path = tu_write_file(0, "bad.safetensors", buf, n);
    free(buf);
    ct_checkpoint *c = (ct_checkpoint *)1;
    ct_status s = ct_checkpoint_open(path, &c);
    const char *msg = ct_last_error();
    if (s != CT_ERR_FORMAT || !strstr(msg, what) || strncmp(msg, path, strlen(path)) != 0 ||
        strchr(msg, '\n'))
        fail_msg("header %s: status %d, message \"%s\" (expected \"%s\")", header, s, msg, what);
    assert_null(c);
}

#define T1 "\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": "

static void test_bad_headers(void **state) {
    (void)state;
    expect_bad("{" T1 "[0, 8]}}", 100, "belong to no tensor");
    expect_bad("{" T1 "[0, 8]", 8, "malformed JSON");
    expect_bad("{" T1 "[0, 8]}} trailing", 8, "malformed JSON");
    expect_bad("[1, 2]", 0, "does not start with '{'");
    expect_bad("{\"t\": {\"dtype\": \"Q4\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
               "unknown dtype");
    expect_bad("{\"t\": {\"dtype\": 4, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8,
               "dtype is not a string");
    expect_bad("{" T1 "[0, 16]}}", 8, "out of bounds");
    expect_bad("{" T1 "[8, 4]}}", 8, "out of bounds");
    expect_bad("{" T1 "[0, 4]}}", 8, "hold 4 bytes");
    expect_bad("{" T1 "[0, 8]}, \"u\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
               8, "overlap");
    expect_bad("{" T1 "[4, 12]}}", 12, "belong to no tensor");
    expect_bad("{\"t\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8,
               "shape[0]");
    expect_bad("{\"t\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "missing \"data_offsets\"");
    expect_bad("{\"t\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0]}}", 8,
               "data_offsets");
    expect_bad("{\"t\": [1]}", 0, "not a JSON object");
    expect_bad("{\"__metadata__\": {\"a\": 1}, " T1 "[0, 8]}}", 8, "not a string");
    expect_bad("{\"__metadata__\": [1], " T1 "[0, 8]}}", 8, "__metadata__");
    expect_bad("{" T1 "[0, 8]}, " T1 "[0, 8]}}", 8, "malformed JSON"); /* duplicate name */
    expect_bad("{\"t\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296, 4294967296], "
               "\"data_offsets\": [0, 8]}}", 8, "too large");
    expect_bad("{}", 8, "no tensors");
}

static void test_bad_lengths(void **state) {
    (void)state;
    ct_checkpoint *c = NULL;
    const char *p = tu_write_file(1, "short.safetensors", "\x10\0\0", 3);
    assert_int_equal(ct_checkpoint_open(p, &c), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "too short"));
    p = tu_write_file(1, "empty.safetensors", "", 0);
    assert_int_equal(ct_checkpoint_open(p, &c), CT_ERR_FORMAT);
    uint8_t past[16] = {0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, '{', '}'};
    p = tu_write_file(1, "past.safetensors", past, sizeof past);
    assert_int_equal(ct_checkpoint_open(p, &c), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "runs past the end"));
    uint8_t huge[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    p = tu_write_file(1, "huge.safetensors", huge, sizeof huge);
    assert_int_equal(ct_checkpoint_open(p, &c), CT_ERR_FORMAT);
    assert_int_equal(ct_checkpoint_open(tu_tmp_path("does-not-exist"), &c), CT_ERR_IO);
    assert_int_equal(ct_checkpoint_open(tu_tmpdir(), &c), CT_ERR_IO);
    assert_null(c);
}

/* A valid file that does not fit the model: each is a one-line error naming the file. */
static void expect_load_error(ct_model *m, const char *header, size_t data_bytes, const char *what) {
    size_t hn = strlen(header), n = 8 + hn + data_bytes;
    uint8_t *buf = calloc(1, n);
    assert_non_null(buf);
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)hn >> (8 * k));
    memcpy(buf + 8, header, hn);
    const char *path = tu_write_file(2, "model.safetensors", buf, n);
    free(buf);
    ct_checkpoint *c = NULL;
    assert_int_equal(ct_checkpoint_open(path, &c), CT_OK);
    ct_status s = ct_checkpoint_load_params(c, m, "");
    if (s != CT_ERR_FORMAT || !strstr(ct_last_error(), what) ||
        strncmp(ct_last_error(), path, strlen(path)) != 0)
        fail_msg("status %d, message \"%s\" (expected \"%s\")", s, ct_last_error(), what);
    ct_checkpoint_free(c);
}

#define W(name, dtype, shape, b, e) \
    "\"" name "\": {\"dtype\": \"" dtype "\", \"shape\": " shape ", \"data_offsets\": [" b ", " e "]}"

static void test_load_mismatch(void **state) {
    (void)state;
    ct_backend *b = cpu(1);
    ct_model *m = NULL;
    /* flatten,linear(2) on (1, 1, 3): linear1.weight (2, 3) = 24 bytes, linear1.bias (2) = 8 */
    assert_int_equal(ct_model_create(b, "flatten,linear(2)", 1, 1, 3, 4, 1, &m), CT_OK);
    expect_load_error(m, "{" W("linear1.weight", "F32", "[2, 3]", "0", "24") ", "
                      W("linear1.bias", "F64", "[1]", "24", "32") "}", 32, "dtype F64");
    expect_load_error(m, "{" W("linear1.weight", "F32", "[3, 2]", "0", "24") ", "
                      W("linear1.bias", "F32", "[2]", "24", "32") "}", 32, "has shape [3, 2]");
    expect_load_error(m, "{" W("linear1.weight", "F32", "[2, 3]", "0", "24") "}", 24,
                      "missing tensor linear1.bias");
    expect_load_error(m, "{" W("linear1.weight", "F32", "[2, 3]", "0", "24") ", "
                      W("linear1.bias", "F32", "[2]", "24", "32") ", "
                      W("extra", "F32", "[1]", "32", "36") "}", 36, "unexpected tensor extra");
    /* no model_spec: a chain of linear layers is understood, anything else is not */
    const char *hdr = "{" W("linear1.weight", "F32", "[2, 3]", "0", "24") ", "
                      W("linear1.bias", "F32", "[2]", "24", "32") "}";
    uint8_t buf[8 + 256 + 32] = {0};
    size_t hn = strlen(hdr);
    buf[0] = (uint8_t)hn;
    memcpy(buf + 8, hdr, hn);
    const char *path = tu_write_file(3, "chain.safetensors", buf, 8 + hn + 32);
    ct_checkpoint *c = NULL;
    ct_model *m2 = NULL;
    assert_int_equal(ct_checkpoint_open(path, &c), CT_OK);
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 0, 0, 0, 4, &m2), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "input_shape")); /* and no shape to fall back on */
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 1, 1, 3, 4, &m2), CT_OK);
    assert_string_equal(ct_model_spec(m2), "flatten,linear(2)");
    ct_model_free(m2);
    assert_int_equal(ct_checkpoint_create_model(c, b, "flatten,linear(4)", 1, 1, 3, 4, &m2),
                     CT_ERR_FORMAT);
    ct_checkpoint_free(c);
    ct_model_free(m);
    ct_backend_free(b);
}

/* A file of the header hdr and the floats 0, 1, 2, ... as its data (n of them). */
static const char *seq_file(const char *name, const char *hdr, int n) {
    size_t hn = strlen(hdr), bytes = 8 + hn + (size_t)n * sizeof(float);
    uint8_t *buf = calloc(1, bytes);
    assert_non_null(buf);
    for (int k = 0; k < 8; k++) buf[k] = (uint8_t)((uint64_t)hn >> (8 * k));
    memcpy(buf + 8, hdr, hn);
    for (int i = 0; i < n; i++) {
        float v = (float)i;
        memcpy(buf + 8 + hn + (size_t)i * sizeof v, &v, sizeof v);
    }
    const char *path = tu_write_file(4, name, buf, bytes);
    free(buf);
    return path;
}

/* PyTorch's nn.Sequential names its tensors by module index ("1.weight": Flatten is module 0):
 * the k-th module with tensors is the model's k-th layer with tensors, the spec of a chain of
 * linear modules is inferred, and modules that do not pair with the layers are refused. */
static void test_sequential_names(void **state) {
    (void)state;
    ct_backend *b = cpu(1);
    /* Sequential(Flatten, Linear(3, 2), ReLU, Linear(2, 2)): 6 + 2 + 4 + 2 floats */
    const char *mlp = seq_file("seq.safetensors",
                               "{" W("1.weight", "F32", "[2, 3]", "0", "24") ", "
                               W("1.bias", "F32", "[2]", "24", "32") ", "
                               W("3.weight", "F32", "[2, 2]", "32", "48") ", "
                               W("3.bias", "F32", "[2]", "48", "56") "}", 14);
    ct_checkpoint *c = NULL;
    ct_model *m = NULL;
    assert_int_equal(ct_checkpoint_open(mlp, &c), CT_OK);
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 1, 1, 3, 4, &m), CT_OK);
    assert_string_equal(ct_model_spec(m), "flatten,linear(2),relu,linear(2)");
    float p[15];
    assert_int_equal(ct_model_get_params(m, p), CT_OK); /* linear1 <- 1.*, linear2 <- 3.* */
    for (int i = 0; i < 14; i++) assert_true(p[i] == (float)i);
    ct_model_free(m);
    /* a model of other layers is refused, naming the Sequential */
    assert_int_equal(ct_checkpoint_create_model(c, b, "flatten,linear(2)", 1, 1, 3, 4, &m),
                     CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "nn.Sequential's, of 2 modules"));
    ct_checkpoint_free(c);
    /* adjacent linear modules have nothing between them; three modules between are not guessed */
    const char *adj = seq_file("adj.safetensors",
                               "{" W("0.weight", "F32", "[2, 3]", "0", "24") ", "
                               W("0.bias", "F32", "[2]", "24", "32") ", "
                               W("1.weight", "F32", "[2, 2]", "32", "48") ", "
                               W("1.bias", "F32", "[2]", "48", "56") "}", 14);
    assert_int_equal(ct_checkpoint_open(adj, &c), CT_OK);
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 1, 1, 3, 4, &m), CT_OK);
    assert_string_equal(ct_model_spec(m), "flatten,linear(2),linear(2)");
    ct_model_free(m);
    ct_checkpoint_free(c);
    const char *far = seq_file("far.safetensors",
                               "{" W("0.weight", "F32", "[2, 3]", "0", "24") ", "
                               W("0.bias", "F32", "[2]", "24", "32") ", "
                               W("4.weight", "F32", "[2, 2]", "32", "48") ", "
                               W("4.bias", "F32", "[2]", "48", "56") "}", 14);
    assert_int_equal(ct_checkpoint_open(far, &c), CT_OK);
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 1, 1, 3, 4, &m), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "modules 1 to 3 lie between"));
    ct_checkpoint_free(c);
    /* two Sequentials (net. and head.) are not one */
    const char *two = seq_file("two.safetensors",
                               "{" W("net.0.weight", "F32", "[2, 3]", "0", "24") ", "
                               W("net.0.bias", "F32", "[2]", "24", "32") ", "
                               W("head.2.weight", "F32", "[2, 2]", "32", "48") ", "
                               W("head.2.bias", "F32", "[2]", "48", "56") "}", 14);
    assert_int_equal(ct_checkpoint_open(two, &c), CT_OK);
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 1, 1, 3, 4, &m), CT_ERR_FORMAT);
    assert_int_equal(ct_checkpoint_create_model(c, b, "flatten,linear(2),relu,linear(2)", 1, 1, 3,
                                                4, &m), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "missing tensor linear1.weight"));
    ct_checkpoint_free(c);
    /* a Sequential held by an attribute ("net.0.weight"): a conv then a linear layer */
    const char *conv = seq_file("net.safetensors",
                                "{" W("net.0.weight", "F32", "[1, 1, 2, 2]", "0", "16") ", "
                                W("net.0.bias", "F32", "[1]", "16", "20") ", "
                                W("net.3.weight", "F32", "[2, 4]", "20", "52") ", "
                                W("net.3.bias", "F32", "[2]", "52", "60") "}", 15);
    assert_int_equal(ct_checkpoint_open(conv, &c), CT_OK);
    assert_int_equal(ct_checkpoint_create_model(c, b, "conv(1,2),relu,flatten,linear(2)", 1, 3,
                                                3, 4, &m), CT_OK);
    assert_int_equal(ct_model_get_params(m, p), CT_OK);
    for (int i = 0; i < 15; i++) assert_true(p[i] == (float)i);
    ct_model_free(m);
    ct_checkpoint_free(c);
    ct_backend_free(b);
}

/* ------------------------------------------------------------------------------------------ */
/* train state: save mid-epoch, load into a new model, both continue identically              */

#define TS_N 240
#define TS_SIDE 4

typedef struct {
    int stop_epoch;
    int64_t stop_batch;
} stop_at;

static int stop_step(void *user, int epoch, int64_t done, int64_t total, int64_t samples,
                     double elapsed_s) {
    stop_at *s = user;
    return epoch == s->stop_epoch && done == s->stop_batch;
}

static void test_train_state(void **state) {
    (void)state;
    uint8_t images[TS_N * TS_SIDE * TS_SIDE], labels[TS_N];
    uint32_t r = 12345;
    for (int i = 0; i < TS_N; i++) {
        labels[i] = (uint8_t)(i % 3);
        for (int k = 0; k < TS_SIDE * TS_SIDE; k++) {
            r = r * 1664525u + 1013904223u;
            images[i * TS_SIDE * TS_SIDE + k] = (uint8_t)((r >> 24) / 2 + (k % 3 == i % 3 ? 120 : 0));
        }
    }
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_create(TS_N, 1, TS_SIDE, TS_SIDE, 3, images, labels, &ds), CT_OK);
    int32_t *tr = NULL, *va = NULL;
    assert_int_equal(ct_split_indices(TS_N, 40, 3, &tr, &va), CT_OK);
    ct_backend *b = cpu(2);
    ct_model *m = NULL, *m2 = NULL;
    assert_int_equal(ct_model_create(b, "flatten,linear(8),relu,linear(3)", 1, TS_SIDE, TS_SIDE,
                                     16, 5, &m), CT_OK);
    ct_train_config cfg;
    ct_train_config_default(&cfg);
    cfg.phases[0] = (ct_phase){2, 0.1f};
    cfg.phases[1] = (ct_phase){0, 0.2f}; /* an empty phase: ct_fit's may be, and read back */
    cfg.phases[2] = (ct_phase){1, 0.05f};
    cfg.num_phases = 3;
    cfg.batch_size = 16;
    cfg.eval_batch_size = 16;
    cfg.momentum = 0.9f;
    cfg.nesterov = 1;
    cfg.seed = 77;
    cfg.augment_degrees = 7.5f; /* (the augmentation travels with the state) */
    cfg.augment_translate = 0.125f;
    cfg.augment_scale_min = 0.75f, cfg.augment_scale_max = 1.25f;
    cfg.augment_shear = 3.0f;
    cfg.augment_bilinear = 1;
    ct_epoch_result hist[3];
    stop_at stop = {1, 5};
    ct_callbacks cb = {.on_step = stop_step, .user = &stop};
    assert_int_equal(ct_fit(m, ds, tr, TS_N - 40, va, 40, &cfg, &cb, hist), CT_ERR_INTERRUPTED);
    ct_fit_position pos = ct_model_fit_position(m);
    assert_int_equal(pos.epoch, 1);
    assert_int_equal(pos.batch, 5);

    ct_eval_result before = {2.5, 0.25, 40};
    ct_meta extra[] = {{"note", "test"}};
    ct_train_state st = {.cfg = &cfg, .before = &before, .history = hist, .n_history = 1,
                         .extra = extra, .n_extra = 1};
    const char *path = tu_tmp_path("train_state.safetensors");
    assert_int_equal(ct_save_train_state(m, path, &st), CT_OK);

    ct_checkpoint *c = NULL;
    assert_int_equal(ct_checkpoint_open(path, &c), CT_OK);
    assert_string_equal(ct_checkpoint_meta(c, "note"), "test");
    assert_true(ct_checkpoint_tensor_count(c) == 8); /* 4 model. + 4 optimizer. */
    ct_train_config got;
    ct_eval_result got_before;
    ct_epoch_result *got_hist = NULL;
    int n_hist = 0;
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 0, 0, 0, 16, &m2), CT_OK);
    assert_int_equal(ct_checkpoint_load_train_state(c, m2, &got, &got_before, &got_hist, &n_hist),
                     CT_OK);
    assert_int_equal(n_hist, 1);
    assert_memory_equal(&got_hist[0].val, &hist[0].val, sizeof hist[0].val);
    assert_true(got_hist[0].train_loss == hist[0].train_loss && got_hist[0].lr == hist[0].lr);
    assert_true(got_before.loss == 2.5 && got_before.count == 40);
    assert_int_equal(got.num_phases, 3);
    assert_true(got.phases[1].lr == 0.2f && got.phases[1].epochs == 0);
    assert_true(got.phases[2].lr == 0.05f && got.phases[2].epochs == 1);
    assert_true(got.momentum == 0.9f && got.nesterov == 1 && got.seed == 77);
    assert_true(got.augment_degrees == 7.5f && got.augment_translate == 0.125f &&
                got.augment_scale_min == 0.75f && got.augment_scale_max == 1.25f &&
                got.augment_shear == 3.0f && got.augment_bilinear == 1);
    assert_int_equal(got.batch_size, 16);
    assert_memory_equal(&got.resume, &pos, sizeof pos); /* doubles bit for bit */
    int64_t n_opt = ct_model_optimizer_state_count(m), s1, s2;
    assert_int_equal(ct_model_optimizer_state_count(m2), n_opt);
    float *o1 = malloc((size_t)n_opt * sizeof(float)), *o2 = malloc((size_t)n_opt * sizeof(float));
    assert_int_equal(ct_model_get_optimizer_state(m, o1, &s1), CT_OK);
    assert_int_equal(ct_model_get_optimizer_state(m2, o2, &s2), CT_OK);
    assert_int_equal(s1, s2);
    assert_memory_equal(o1, o2, (size_t)n_opt * sizeof(float));
    { /* a resized crop (in place of the warp), a vertical flip, colour jitter and random
       * erasing travel too */
        ct_train_config rc = cfg, got_rc;
        rc.augment_degrees = rc.augment_translate = rc.augment_shear = 0.0f;
        rc.augment_scale_min = rc.augment_scale_max = 0.0f;
        rc.augment_bilinear = 0;
        rc.augment_area_min = 0.25f, rc.augment_area_max = 0.875f;
        rc.augment_ratio_min = 0.5f, rc.augment_ratio_max = 2.0f;
        rc.augment_erase_p = 0.25f, rc.augment_erase_fill[0] = 0.125f;
        rc.augment_erase_fill[3] = 0.75f;
        rc.augment_jitter[0] = 0.375f, rc.augment_jitter[3] = 0.125f;
        rc.augment_vflip = 1, rc.augment_grey_p = 0.25f;
        ct_train_state rst = st;
        rst.cfg = &rc;
        const char *rpath = tu_tmp_path("train_state_resized.safetensors");
        assert_int_equal(ct_save_train_state(m, rpath, &rst), CT_OK);
        ct_checkpoint *rcp = NULL;
        ct_epoch_result *rh = NULL;
        int rn = 0;
        assert_int_equal(ct_checkpoint_open(rpath, &rcp), CT_OK);
        assert_int_equal(ct_checkpoint_load_train_state(rcp, m2, &got_rc, NULL, &rh, &rn), CT_OK);
        assert_true(got_rc.augment_area_min == 0.25f && got_rc.augment_area_max == 0.875f &&
                    got_rc.augment_ratio_min == 0.5f && got_rc.augment_ratio_max == 2.0f &&
                    got_rc.augment_degrees == 0.0f && got_rc.augment_bilinear == 0 &&
                    got_rc.augment_erase_p == 0.25f && got_rc.augment_erase_fill[0] == 0.125f &&
                    got_rc.augment_erase_fill[1] == 0.0f && got_rc.augment_erase_fill[3] == 0.75f &&
                    got_rc.augment_jitter[0] == 0.375f && got_rc.augment_jitter[1] == 0.0f &&
                    got_rc.augment_jitter[3] == 0.125f && got_rc.augment_vflip == 1 &&
                    got_rc.augment_ta_bins == 0 && got_rc.augment_grey_p == 0.25f);
        free(rh);
        ct_checkpoint_free(rcp);
        rc.augment_jitter[0] = rc.augment_jitter[3] = 0.0f, rc.augment_ta_bins = 7; /* trivial=7 */
        rc.augment_grey_p = 0.0f;
        assert_int_equal(ct_save_train_state(m, rpath, &rst), CT_OK);
        assert_int_equal(ct_checkpoint_open(rpath, &rcp), CT_OK);
        assert_int_equal(ct_checkpoint_load_train_state(rcp, m2, &got_rc, NULL, &rh, &rn), CT_OK);
        assert_int_equal(got_rc.augment_ta_bins, 7);
        assert_int_equal(got_rc.augment_ra_ops, 0);
        assert_int_equal(got_rc.augment_aa_policy, CT_AUTOAUGMENT_NONE);
        free(rh);
        ct_checkpoint_free(rcp);
        rc.augment_ta_bins = 0, rc.augment_ra_ops = 3, rc.augment_ra_magnitude = 12; /* and */
        rc.augment_ra_bins = 20;                        /* randaugment=3:12:20 */
        assert_int_equal(ct_save_train_state(m, rpath, &rst), CT_OK);
        assert_int_equal(ct_checkpoint_open(rpath, &rcp), CT_OK);
        assert_int_equal(ct_checkpoint_load_train_state(rcp, m2, &got_rc, NULL, &rh, &rn), CT_OK);
        assert_true(got_rc.augment_ta_bins == 0 && got_rc.augment_ra_ops == 3 &&
                    got_rc.augment_ra_magnitude == 12 && got_rc.augment_ra_bins == 20);
        free(rh);
        ct_checkpoint_free(rcp);
        rc.augment_ra_ops = 0, rc.augment_aa_policy = CT_AUTOAUGMENT_SVHN; /* autoaugment=svhn */
        assert_int_equal(ct_save_train_state(m, rpath, &rst), CT_OK);
        assert_int_equal(ct_checkpoint_open(rpath, &rcp), CT_OK);
        assert_int_equal(ct_checkpoint_load_train_state(rcp, m2, &got_rc, NULL, &rh, &rn), CT_OK);
        assert_true(got_rc.augment_ra_ops == 0 && got_rc.augment_aa_policy == CT_AUTOAUGMENT_SVHN);
        free(rh);
        ct_checkpoint_free(rcp);
        rc.augment_aa_policy = CT_AUTOAUGMENT_NONE, rc.augment_augmix_severity = 7; /* augmix */
        rc.augment_augmix_width = 2, rc.augment_augmix_depth = 4;               /* =7:2:4:0.375 */
        rc.augment_augmix_alpha = 0.375f;
        rc.warmup_epochs = 2, rc.warmup_sequential = 1, rc.lr_step_epoch = 1; /* (and these, */
        rc.repeated_aug = 3;
        rc.schedule = CT_SCHED_COSINE, rc.num_phases = 1;                     /* on cosine) */
        assert_int_equal(ct_save_train_state(m, rpath, &rst), CT_OK);
        assert_int_equal(ct_checkpoint_open(rpath, &rcp), CT_OK);
        assert_int_equal(ct_checkpoint_load_train_state(rcp, m2, &got_rc, NULL, &rh, &rn), CT_OK);
        assert_true(got_rc.augment_aa_policy == CT_AUTOAUGMENT_NONE &&
                    got_rc.augment_augmix_severity == 7 && got_rc.augment_augmix_width == 2 &&
                    got_rc.augment_augmix_depth == 4 && got_rc.augment_augmix_alpha == 0.375f &&
                    got_rc.warmup_sequential == 1 && got_rc.lr_step_epoch == 1 &&
                    got_rc.repeated_aug == 3);
        free(rh);
        ct_checkpoint_free(rcp);
    }

    /* both go on from there; they end identical */
    cfg.resume = pos;
    got.resume = pos;
    ct_epoch_result h1[3], h2[3];
    assert_int_equal(ct_fit(m, ds, tr, TS_N - 40, va, 40, &cfg, NULL, h1), CT_OK);
    got.workers = 0; /* the data path does not change the numbers */
    assert_int_equal(ct_fit(m2, ds, tr, TS_N - 40, va, 40, &got, NULL, h2), CT_OK);
    float *p1 = params_of(m), *p2 = params_of(m2);
    assert_memory_equal(p1, p2, (size_t)ct_model_param_count(m) * sizeof(float));
    assert_true(h1[2].val.loss == h2[2].val.loss);

    /* a model file is not a train state */
    const char *mpath = tu_tmp_path("model_only.safetensors");
    assert_int_equal(ct_save_model(m, mpath, NULL, 0), CT_OK);
    ct_checkpoint *cm = NULL;
    assert_int_equal(ct_checkpoint_open(mpath, &cm), CT_OK);
    ct_epoch_result *h3 = NULL;
    assert_int_equal(ct_checkpoint_load_train_state(cm, m2, &got, NULL, &h3, &n_hist), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "not a ctrain train state"));
    ct_checkpoint_free(cm);
    free(p1);
    free(p2);
    free(o1);
    free(o2);
    free(got_hist);
    ct_checkpoint_free(c);
    ct_model_free(m2);
    ct_model_free(m);
    ct_backend_free(b);
    free(tr);
    free(va);
    ct_dataset_free(ds);
}

/* A CNN with batch norm trained by Adam: conv and batchnorm names, the buffers (running
 * statistics, num_batches_tracked as I64), Adam's two slots; all back bit for bit. */
static void test_cnn_checkpoint(void **state) {
    (void)state;
    enum { N = 64, S = 6 };
    uint8_t images[N * S * S], labels[N];
    for (int i = 0; i < N; i++) {
        labels[i] = (uint8_t)(i % 2);
        for (int k = 0; k < S * S; k++) images[i * S * S + k] = (uint8_t)((k * 29 + i * 53) & 255);
    }
    ct_dataset *ds = NULL;
    assert_int_equal(ct_dataset_create(N, 1, S, S, 2, images, labels, &ds), CT_OK);
    ct_backend *b = cpu(2);
    ct_model *m = NULL, *m2 = NULL;
    const char *spec = "conv(3,3),batchnorm,relu,maxpool(2),flatten,linear(2)";
    assert_int_equal(ct_model_create(b, spec, 1, S, S, 16, 3, &m), CT_OK);
    const char *names[] = {"conv1.weight", "conv1.bias", "batchnorm1.weight", "batchnorm1.bias",
                           "batchnorm1.running_mean", "batchnorm1.running_var",
                           "batchnorm1.num_batches_tracked", "linear1.weight", "linear1.bias"};
    assert_int_equal(ct_model_tensor_count(m), 9);
    for (int i = 0; i < 9; i++) {
        ct_tensor_info t;
        assert_int_equal(ct_model_tensor_info(m, i, &t), CT_OK);
        assert_string_equal(t.name, names[i]);
        if (i == 0) assert_true(t.ndim == 4 && t.shape[0] == 3 && t.shape[1] == 1 && t.shape[3] == 3);
        if (i == 6) assert_true(t.ndim == 0 && t.kind == CT_TENSOR_COUNTER);
        if (i == 4) assert_int_equal(t.kind, CT_TENSOR_BUFFER);
    }
    ct_train_config cfg;
    ct_train_config_default(&cfg);
    cfg.phases[0] = (ct_phase){1, 0.01f};
    cfg.num_phases = 1;
    cfg.batch_size = cfg.eval_batch_size = 16;
    cfg.optimizer = CT_ADAM;
    int32_t idx[N];
    for (int i = 0; i < N; i++) idx[i] = i;
    ct_epoch_result hist[1];
    assert_int_equal(ct_fit(m, ds, idx, N, idx, 16, &cfg, NULL, hist), CT_OK);
    const char *mpath = tu_tmp_path("cnn.safetensors"), *spath = tu_tmp_path("cnn_state.safetensors");
    assert_int_equal(ct_save_model(m, mpath, NULL, 0), CT_OK);
    ct_train_state st = {.cfg = &cfg, .history = hist, .n_history = 1};
    assert_int_equal(ct_save_train_state(m, spath, &st), CT_OK);

    ct_checkpoint *c = NULL;
    assert_int_equal(ct_checkpoint_open(mpath, &c), CT_OK);
    int k = find_tensor(c, "batchnorm1.num_batches_tracked");
    const char *dtype;
    int ndim;
    const void *data;
    assert_int_equal(ct_checkpoint_tensor(c, k, NULL, &dtype, &ndim, NULL, &data), CT_OK);
    int64_t tracked;
    memcpy(&tracked, data, sizeof tracked);
    assert_string_equal(dtype, "I64");
    assert_int_equal(ndim, 0);
    assert_int_equal(tracked, N / 16); /* one per training step */
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 0, 0, 0, 16, &m2), CT_OK);
    int64_t nb = ct_model_buffer_count(m);
    float *b1 = malloc((size_t)nb * sizeof(float)), *b2 = malloc((size_t)nb * sizeof(float));
    assert_int_equal(ct_model_get_buffers(m, b1), CT_OK);
    assert_int_equal(ct_model_get_buffers(m2, b2), CT_OK);
    assert_memory_equal(b1, b2, (size_t)nb * sizeof(float));
    assert_int_equal(ct_model_batches_tracked(m2, 1), tracked);
    float *p1 = params_of(m), *p2 = params_of(m2);
    assert_memory_equal(p1, p2, (size_t)ct_model_param_count(m) * sizeof(float));
    ct_checkpoint_free(c);
    ct_model_free(m2);

    /* the train state: Adam's exp_avg and exp_avg_sq per parameter tensor */
    assert_int_equal(ct_checkpoint_open(spath, &c), CT_OK);
    assert_true(find_tensor(c, "optimizer.conv1.weight.exp_avg") >= 0);
    assert_true(find_tensor(c, "optimizer.linear1.bias.exp_avg_sq") >= 0);
    assert_true(find_tensor(c, "optimizer.batchnorm1.running_mean.exp_avg") < 0);
    assert_true(find_tensor(c, "model.batchnorm1.running_var") >= 0);
    ct_train_config got;
    ct_epoch_result *h = NULL;
    int nh = 0;
    assert_int_equal(ct_checkpoint_create_model(c, b, NULL, 0, 0, 0, 16, &m2), CT_OK);
    assert_int_equal(ct_checkpoint_load_train_state(c, m2, &got, NULL, &h, &nh), CT_OK);
    assert_int_equal(got.optimizer, CT_ADAM);
    int64_t n_opt = ct_model_optimizer_state_count(m), s1, s2;
    assert_int_equal(n_opt, 2 * ct_model_param_count(m));
    float *o1 = malloc((size_t)n_opt * sizeof(float)), *o2 = malloc((size_t)n_opt * sizeof(float));
    assert_int_equal(ct_model_get_optimizer_state(m, o1, &s1), CT_OK);
    assert_int_equal(ct_model_get_optimizer_state(m2, o2, &s2), CT_OK);
    assert_int_equal(s1, s2);
    assert_memory_equal(o1, o2, (size_t)n_opt * sizeof(float));
    free(h);
    free(o1);
    free(o2);
    free(p1);
    free(p2);
    free(b1);
    free(b2);
    ct_checkpoint_free(c);
    ct_model_free(m2);
    ct_model_free(m);
    ct_backend_free(b);
    ct_dataset_free(ds);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),        cmocka_unit_test(test_tensor_names),
        cmocka_unit_test(test_sequential_names),
        cmocka_unit_test(test_model_round_trip), cmocka_unit_test(test_bad_headers),
        cmocka_unit_test(test_bad_lengths),    cmocka_unit_test(test_load_mismatch),
        cmocka_unit_test(test_train_state),    cmocka_unit_test(test_cnn_checkpoint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
