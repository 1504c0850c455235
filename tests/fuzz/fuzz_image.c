/*
 * fuzz_image.c — an image for `ctrain predict`: ct_image_load (PNG through libpng, PBM/PGM/
 * PPM/PAM through libnetpbm), then ct_image_to_input for a 1x28x28 and a 3x32x32 model with
 * each fit, as predict prepares it.
 */
#include "fuzzlib.h"

#include "ctrain.h"
#include "ctrain/io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file(data, size, ".img");
    ct_image img;
    memset(&img, 0, sizeof img);
    if (ct_image_load(path, &img) != CT_OK) {
        if (!ct_last_error()[0]) abort();
        ct_image_free(&img);
        return 0;
    }
    if (img.w <= 0 || img.h <= 0 || (img.c != 1 && img.c != 3) || !img.pixels) abort();
    static float out[3 * 32 * 32];
    const ct_image_fit fits[] = {CT_FIT_PAD, CT_FIT_STRETCH, CT_FIT_DIGIT};
    for (int f = 0; f < 3; f++) {
        int inverted = -1;
        if (ct_image_to_input(&img, 1, 28, 28, -1, fits[f], out, &inverted) == CT_OK) {
            for (int i = 0; i < 28 * 28; i++)
                if (!(out[i] >= 0.0f && out[i] <= 1.0f)) abort(); /* inputs in [0, 1] */
        }
        if (ct_image_to_input(&img, 3, 32, 32, 0, fits[f], out, NULL) == CT_OK) {
            for (int i = 0; i < 3 * 32 * 32; i++)
                if (!(out[i] >= 0.0f && out[i] <= 1.0f)) abort();
        }
    }
    ct_image_free(&img);
    return 0;
}
