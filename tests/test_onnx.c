/*
 * test_onnx.c — ct_save_onnx without ONNX's own tools (tests/cli_onnx.sh runs its files in ONNX
 * Runtime and ONNX's checker): what it refuses and that it writes a protobuf ModelProto.
 */
#include "testutil.h"

#include "ctrain/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A protobuf ModelProto (its first field, ir_version 7: bytes 0x08 0x07) written atomically;
 * weights that are not finite and metadata without a key or value refused, nothing written. */
static void test_onnx(void **state) {
    (void)state;
    ct_backend *b = NULL;
    assert_int_equal(ct_backend_create("cpu", 1, &b), CT_OK);
    ct_model *m = NULL;
    assert_int_equal(ct_model_create(b, "conv(2,3,1,1),batchnorm,gelu,flatten,linear(3)", 1, 5, 5,
                                     4, 7, &m), CT_OK);
    const char *path = tu_tmp_path("m.onnx");
    unlink(path);
    ct_meta unnamed[] = {{NULL, "x"}}, valueless[] = {{"k", NULL}};
    assert_int_equal(ct_save_onnx(m, path, unnamed, 1), CT_ERR_INVALID);
    assert_int_equal(ct_save_onnx(m, path, valueless, 1), CT_ERR_INVALID);
    assert_int_equal(ct_save_onnx(NULL, path, NULL, 0), CT_ERR_INVALID);
    int64_t n = ct_model_param_count(m);
    float *p = malloc((size_t)n * sizeof *p);
    assert_non_null(p);
    assert_int_equal(ct_model_get_params(m, p), CT_OK);
    float keep = p[3];
    p[3] = NAN;
    assert_int_equal(ct_model_set_params(m, p), CT_OK);
    assert_int_equal(ct_save_onnx(m, path, NULL, 0), CT_ERR_FORMAT);
    assert_non_null(strstr(ct_last_error(), "conv1.weight"));
    assert_int_not_equal(access(path, F_OK), 0);
    p[3] = keep;
    assert_int_equal(ct_model_set_params(m, p), CT_OK);
    ct_meta note[] = {{"note", "caf\xc3\xa9"}};
    assert_int_equal(ct_save_onnx(m, path, note, 1), CT_OK);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    unsigned char head[2] = {0, 0};
    assert_int_equal(fread(head, 1, 2, f), 2);
    fseek(f, 0, SEEK_END);
    long bytes = ftell(f);
    fclose(f);
    assert_true(head[0] == 0x08 && head[1] == 0x07);
    assert_true(bytes > n * 4); /* the weights are in it */
    free(p);
    ct_model_free(m);
    ct_backend_free(b);
}

int main(void) {
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_onnx)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
