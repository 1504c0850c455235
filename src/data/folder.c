/*
 * folder.c — a folder of image files as torchvision's ImageFolder (and Keras'
 * image_dataset_from_directory) reads one: DIR/train/CLASS/IMAGE and DIR/test/CLASS/IMAGE (or
 * DIR/val/CLASS/IMAGE). The classes are DIR/train's sub-folders sorted by name, labelled 0, 1,
 * ... in that order (ImageFolder's class_to_idx); a test folder's classes must be among them.
 * In each class, the image files sorted by name. Hidden files are skipped, as are files that
 * are not images by their extension (ImageFolder's rule); .png, .jpg, .jpeg, .pbm, .pgm, .ppm,
 * .pnm and .pam are read (ct_image_load: libpng, libjpeg-turbo, libnetpbm), the image formats
 * ctrain cannot read (.bmp, .gif, .tif, .webp) are refused.
 * Every image is resized to the size asked for, as torchvision's Resize((h, w)) resizes a PIL
 * image (ct_image_resize), or, when none is asked for, must have the size of the first training
 * image (the first class's first file). Each takes that image's channels: grey from colour by
 * ITU-R 601 luminance as PIL's convert("L") (after the resize, as Resize then Grayscale), colour
 * from grey by repeating it.
 */
#define _GNU_SOURCE
#include "data/data.h"

#include "ctrain/io.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define FOLDER_MAX_CLASSES 256 /* labels are uint8 */

typedef struct {
    char **v;
    int n, cap;
} name_list;

static void names_free(name_list *l) {
    for (int i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int by_name(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the extension of name, lower-case, in ext (16 bytes; "" when none) */
static void extension(const char *name, char ext[16]) {
    const char *dot = strrchr(name, '.');
    ext[0] = 0;
    if (!dot || strlen(dot + 1) >= 16) return;
    for (int i = 0; dot[1 + i]; i++) ext[i] = (char)(dot[1 + i] | 0x20), ext[i + 1] = 0;
}

static int in_list(const char *ext, const char *const *list) {
    for (; *list; list++)
        if (strcmp(ext, *list) == 0) return 1;
    return 0;
}

static const char *const k_readable[] = {"png", "jpg", "jpeg", "pbm", "pgm", "ppm", "pnm",
                                         "pam", NULL};
/* torchvision's other IMG_EXTENSIONS: images, which a user means to train on */
static const char *const k_unreadable[] = {"bmp", "gif", "tif", "tiff", "webp", NULL};

/* The entries of path that are folders (dirs 1) or image files (dirs 0), sorted by name. */
static ct_status list_entries(const char *path, int dirs, name_list *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(path);
    if (!d) return ct_fail(CT_ERR_IO, "%s: cannot open the folder: %s", path, strerror(errno));
    ct_status s = CT_OK;
    struct dirent *e;
    while (s == CT_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files */
        char full[PATH_MAX];
        struct stat st;
        if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full) {
            s = ct_fail(CT_ERR_IO, "%s/%s: path too long", path, e->d_name);
            break;
        }
        if (stat(full, &st) != 0) continue; /* a dangling link */
        if (dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) continue;
        if (!dirs) {
            char ext[16];
            extension(e->d_name, ext);
            if (in_list(ext, k_unreadable)) {
                s = ct_fail(CT_ERR_FORMAT, "%s: .%s images are not read by ctrain (PNG, JPEG "
                            "and PBM/PGM/PPM/PAM are): convert them, e.g. with ImageMagick's "
                            "mogrify -format png", full, ext);
                break;
            }
            if (!in_list(ext, k_readable)) continue;
        }
        if (out->n == out->cap) {
            int cap = out->cap ? 2 * out->cap : 64;
            char **v = realloc(out->v, (size_t)cap * sizeof *v);
            if (!v) {
                s = ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", path);
                break;
            }
            out->v = v, out->cap = cap;
        }
        if (!(out->v[out->n] = strdup(e->d_name))) {
            s = ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", path);
            break;
        }
        out->n++;
    }
    closedir(d);
    if (s != CT_OK) {
        names_free(out);
        return s;
    }
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, by_name);
    return CT_OK;
}

/* img converted to c channels into dst (c, h, w) */
static void to_planes(const ct_image *img, int c, uint8_t *dst) {
    size_t hw = (size_t)img->h * (size_t)img->w;
    for (size_t i = 0; i < hw; i++) {
        const uint8_t *px = img->pixels + i * (size_t)img->c;
        if (img->c == c) {
            for (int k = 0; k < c; k++) dst[k * hw + i] = px[k];
        } else if (c == 1) { /* PIL's L = R 299/1000 + G 587/1000 + B 114/1000, rounded */
            dst[i] = (uint8_t)((px[0] * 19595u + px[1] * 38470u + px[2] * 7471u + 0x8000u) >> 16);
        } else {
            for (int k = 0; k < c; k++) dst[k * hw + i] = px[0];
        }
    }
}

ct_status ct_dataset_load_folder(const char *dir, const char *part, int height, int width,
                                 ct_dataset **out, char **class_names) {
    if (out) *out = NULL;
    if (class_names) *class_names = NULL;
    if (!out || !dir || !part || (strcmp(part, "train") != 0 && strcmp(part, "test") != 0) ||
        height < 0 || width < 0 || (height == 0) != (width == 0) ||
        (int64_t)height * width > (1 << 24))
        return ct_fail(CT_ERR_INVALID, "ct_dataset_load_folder: bad arguments");
    char train_dir[PATH_MAX], part_dir[PATH_MAX];
    struct stat st;
    if (snprintf(train_dir, sizeof train_dir, "%s/train", dir) >= (int)sizeof train_dir)
        return ct_fail(CT_ERR_IO, "%s: path too long", dir);
    if (stat(train_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ct_fail(CT_ERR_IO, "%s: no train folder in it (an image folder is "
                       "DIR/train/CLASS/IMAGE and DIR/test/CLASS/IMAGE)", dir);
    snprintf(part_dir, sizeof part_dir, "%s/%s", dir, part);
    if (strcmp(part, "test") == 0 && (stat(part_dir, &st) != 0 || !S_ISDIR(st.st_mode))) {
        snprintf(part_dir, sizeof part_dir, "%s/val", dir); /* ImageFolder's other name */
        if (stat(part_dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return ct_fail(CT_ERR_IO, "%s: no test (or val) folder in it, beside train "
                           "(DIR/test/CLASS/IMAGE)", dir);
    }
    name_list classes = {0}, sub = {0}, files = {0};
    char **paths = NULL;
    uint8_t *labels = NULL, *images = NULL;
    int64_t n = 0, cap = 0;
    int c = 0, h = 0, w = 0;
    ct_status s = list_entries(train_dir, 1, &classes);
    if (s != CT_OK) return s;
    if (classes.n == 0 || classes.n > FOLDER_MAX_CLASSES) {
        s = ct_fail(CT_ERR_FORMAT, "%s: %d class folders (1..%d)", train_dir, classes.n,
                    FOLDER_MAX_CLASSES);
        goto done;
    }
    for (int k = 0; k < classes.n; k++)
        for (const char *p = classes.v[k]; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                s = ct_fail(CT_ERR_FORMAT, "%s/%s: a class folder's name with a control "
                            "character", train_dir, classes.v[k]);
                goto done;
            }
    /* the reference image: the first training image (also when loading the test part) */
    for (int k = 0; k < classes.n && !c; k++) {
        char cdir[PATH_MAX];
        snprintf(cdir, sizeof cdir, "%s/%s", train_dir, classes.v[k]);
        if ((s = list_entries(cdir, 0, &files)) != CT_OK) goto done;
        if (files.n > 0) {
            char path[PATH_MAX];
            ct_image img;
            snprintf(path, sizeof path, "%s/%s", cdir, files.v[0]);
            if ((s = ct_image_load(path, &img)) != CT_OK) goto done;
            c = img.c, h = height ? height : img.h, w = width ? width : img.w;
            ct_image_free(&img);
        }
        names_free(&files);
    }
    if (!c) {
        s = ct_fail(CT_ERR_FORMAT, "%s: no images in its class folders (.png, .jpg, .pgm, "
                    ".ppm, .pbm, .pnm, .pam)", train_dir);
        goto done;
    }
    /* the part's classes, each one of train's, and their files */
    if ((s = list_entries(part_dir, 1, &sub)) != CT_OK) goto done;
    for (int j = 0; j < sub.n; j++) {
        char **hit = bsearch(&sub.v[j], classes.v, (size_t)classes.n, sizeof *classes.v, by_name);
        if (!hit) {
            s = ct_fail(CT_ERR_FORMAT, "%s/%s: a class that %s does not have", part_dir,
                        sub.v[j], train_dir);
            goto done;
        }
        char cdir[PATH_MAX];
        snprintf(cdir, sizeof cdir, "%s/%s", part_dir, sub.v[j]);
        if ((s = list_entries(cdir, 0, &files)) != CT_OK) goto done;
        if (n + files.n > INT32_MAX) {
            s = ct_fail(CT_ERR_FORMAT, "%s: more than %d images", part_dir, INT32_MAX);
            goto done;
        }
        if (n + files.n > cap) {
            int64_t ncap = 2 * (n + files.n) + 64;
            char **np = realloc(paths, (size_t)ncap * sizeof *np);
            uint8_t *nl = np ? realloc(labels, (size_t)ncap) : NULL;
            if (np) paths = np;
            if (!nl) {
                s = ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", part_dir);
                goto done;
            }
            labels = nl, cap = ncap;
        }
        for (int i = 0; i < files.n; i++) {
            size_t bytes = strlen(cdir) + strlen(files.v[i]) + 2;
            if (!(paths[n] = malloc(bytes))) {
                s = ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", part_dir);
                goto done;
            }
            snprintf(paths[n], bytes, "%s/%s", cdir, files.v[i]);
            labels[n++] = (uint8_t)(hit - classes.v);
        }
        names_free(&files);
    }
    if (n == 0) {
        s = ct_fail(CT_ERR_FORMAT, "%s: no images in its class folders", part_dir);
        goto done;
    }
    size_t image_bytes = (size_t)c * (size_t)h * (size_t)w, total;
    if (!ct_mul_size(image_bytes, (size_t)n, &total) ||
        !(images = ct_malloc(total, "image folder"))) {
        s = ct_fail(CT_ERR_NOMEM, "out of memory (%lld images of %dx%dx%d)", (long long)n, c,
                    h, w);
        goto done;
    }
    for (int64_t i = 0; i < n && s == CT_OK; i++) {
        ct_image img;
        if ((s = ct_image_load(paths[i], &img)) != CT_OK) break;
        if ((img.h != h || img.w != w) && height) { /* Resize((h, w)) */
            ct_image sized;
            if ((s = ct_image_resize(&img, h, w, &sized)) == CT_OK) {
                ct_image_free(&img);
                img = sized;
            }
        } else if (img.h != h || img.w != w) {
            s = ct_fail(CT_ERR_FORMAT, "%s: %dx%d pixels, but the dataset's images are %dx%d (as "
                        "its first training image): resize them all to one size (--image-size)",
                        paths[i], img.w, img.h, w, h);
        }
        if (s == CT_OK) to_planes(&img, c, images + (size_t)i * image_bytes);
        ct_image_free(&img);
    }
    if (s == CT_OK) {
        ct_dataset *ds = ct_calloc(1, sizeof *ds, "dataset");
        if (!ds) {
            s = CT_ERR_NOMEM;
            goto done;
        }
        ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->classes = classes.n;
        ds->images = images, ds->labels = labels;
        images = NULL, labels = NULL;
        *out = ds;
    }
    if (s == CT_OK && class_names) {
        size_t bytes = 1;
        for (int k = 0; k < classes.n; k++) bytes += strlen(classes.v[k]) + 1;
        char *t = malloc(bytes), *p = t;
        if (!t) {
            ct_dataset_free(*out);
            *out = NULL;
            s = ct_fail(CT_ERR_NOMEM, "out of memory (class names)");
            goto done;
        }
        for (int k = 0; k < classes.n; k++)
            p += sprintf(p, "%s%s", classes.v[k], k + 1 < classes.n ? "\n" : "");
        *p = 0;
        *class_names = t;
    }
done:
    for (int64_t i = 0; i < n; i++) free(paths[i]);
    free(paths);
    free(labels);
    free(images);
    names_free(&classes);
    names_free(&sub);
    names_free(&files);
    return s;
}
