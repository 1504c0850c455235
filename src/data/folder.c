/*
 * folder.c — a folder of image files as torchvision's ImageFolder (and Keras'
 * image_dataset_from_directory) reads one: DIR/train/CLASS/.../IMAGE and DIR/test/CLASS/...
 * (or DIR/val/...). The classes are DIR/train's sub-folders sorted by name, labelled 0, 1, ...
 * in that order (ImageFolder's class_to_idx); a test folder's classes must be among them, and
 * every training class needs an image. A class's images are searched in its sub-folders too, in
 * ImageFolder's order (sorted(os.walk(CLASS)): the folders by path, each one's files by name).
 * Files that are not images by their extension are skipped (ImageFolder's rule), and so are
 * hidden files and folders (names starting with '.', such as .ipynb_checkpoints, which
 * ImageFolder would take for a class); .png, .jpg, .jpeg, .pgm and .ppm are read
 * (ct_image_load: libpng, libjpeg-turbo, libnetpbm), and the rest of torchvision's image
 * extensions (.bmp, .tif, .tiff, .webp) are refused: ctrain cannot read them.
 * Every image is resized to the size asked for, as torchvision's Resize((h, w)) resizes a PIL
 * image, or, when none is asked for, must have the size of the first training image. The
 * images are colour when any training image is (found from their headers), else grey; each is
 * converted to that (ct_image_to_planes).
 */
#define _GNU_SOURCE
#include "data/data.h"

#include "core/pool.h"
#include "ctrain/io.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FOLDER_MAX_CLASSES 256 /* labels are uint8 */
#define FOLDER_MAX_DEPTH 32    /* sub-folders in a class (links are followed: a loop ends here) */

typedef struct {
    char **v;
    int64_t n, cap;
} name_list;

static void names_free(name_list *l) {
    for (int64_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static ct_status push(name_list *l, const char *s, const char *what) {
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", what);
        l->v = v, l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", what);
    l->n++;
    return CT_OK;
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

/* torchvision's IMG_EXTENSIONS that ctrain reads (.pbm, .pnm, .pam are not among them:
 * skipped, as ImageFolder skips them) */
static const char *const k_readable[] = {"png", "jpg", "jpeg", "pgm", "ppm", NULL};
/* the rest of torchvision's IMG_EXTENSIONS: images a user means to train on */
static const char *const k_unreadable[] = {"bmp", "tif", "tiff", "webp", NULL};

/* The names of path's entries that are folders (dirs 1) or image files (dirs 0), sorted. */
static ct_status list_entries(const char *path, int dirs, name_list *out) {
    memset(out, 0, sizeof *out);
    DIR *d = opendir(path);
    if (!d) return ct_fail(CT_ERR_IO, "%s: cannot open the folder: %s", path, strerror(errno));
    ct_status s = CT_OK;
    struct dirent *e;
    while (s == CT_OK && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* ".", "..", hidden files and folders */
        char full[PATH_MAX];
        struct stat st;
        if (snprintf(full, sizeof full, "%s/%s", path, e->d_name) >= (int)sizeof full) {
            s = ct_fail(CT_ERR_IO, "%s/%s: path too long", path, e->d_name);
            break;
        }
        int is_dir = e->d_type == DT_DIR, is_file = e->d_type == DT_REG;
        if (!is_dir && !is_file) { /* a link (followed), or a file system without d_type */
            if (stat(full, &st) != 0) continue; /* a dangling link */
            is_dir = S_ISDIR(st.st_mode), is_file = S_ISREG(st.st_mode);
        }
        if (dirs ? !is_dir : !is_file) continue;
        if (!dirs) {
            char ext[16];
            extension(e->d_name, ext);
            if (in_list(ext, k_unreadable)) {
                s = ct_fail(CT_ERR_FORMAT, "%s: .%s images are not read by ctrain (PNG, JPEG, "
                            "PGM and PPM are): convert them, e.g. with ImageMagick's "
                            "mogrify -format png", full, ext);
                break;
            }
            if (!in_list(ext, k_readable)) continue;
        }
        s = push(out, e->d_name, path);
    }
    closedir(d);
    if (s != CT_OK) {
        names_free(out);
        return s;
    }
    if (out->n > 1) qsort(out->v, (size_t)out->n, sizeof *out->v, by_name);
    return CT_OK;
}

/* dir and its sub-folders (not hidden, links followed) into dirs, depth levels at most */
static ct_status collect_dirs(const char *dir, int depth, name_list *dirs) {
    if (depth > FOLDER_MAX_DEPTH)
        return ct_fail(CT_ERR_FORMAT, "%s: more than %d folders deep (links in a loop?)", dir,
                       FOLDER_MAX_DEPTH);
    CT_TRY(push(dirs, dir, dir));
    name_list sub;
    CT_TRY(list_entries(dir, 1, &sub));
    ct_status s = CT_OK;
    for (int64_t i = 0; i < sub.n && s == CT_OK; i++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s", dir, sub.v[i]) >= (int)sizeof path)
            s = ct_fail(CT_ERR_IO, "%s/%s: path too long", dir, sub.v[i]);
        else
            s = collect_dirs(path, depth + 1, dirs);
    }
    names_free(&sub);
    return s;
}

/* The image files of one class folder as paths, appended to out, in ImageFolder's order:
 * sorted(os.walk(dir)), the folders sorted by path, each one's files by name. */
static ct_status class_images(const char *dir, name_list *out) {
    name_list dirs = {0}, files = {0};
    ct_status s = collect_dirs(dir, 0, &dirs);
    if (s == CT_OK && dirs.n > 1) qsort(dirs.v, (size_t)dirs.n, sizeof *dirs.v, by_name);
    for (int64_t i = 0; i < dirs.n && s == CT_OK; i++) {
        if ((s = list_entries(dirs.v[i], 0, &files)) != CT_OK) break;
        for (int64_t j = 0; j < files.n && s == CT_OK; j++) {
            char path[PATH_MAX];
            if (snprintf(path, sizeof path, "%s/%s", dirs.v[i], files.v[j]) >= (int)sizeof path)
                s = ct_fail(CT_ERR_IO, "%s/%s: path too long", dirs.v[i], files.v[j]);
            else
                s = push(out, path, dir);
        }
        names_free(&files);
    }
    names_free(&dirs);
    return s;
}

ct_status ct_folder_image_paths(const char *dir, char ***paths, int64_t *n) {
    if (!dir || !paths || !n) return ct_fail(CT_ERR_INVALID, "ct_folder_image_paths: NULL");
    *paths = NULL, *n = 0;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ct_fail(CT_ERR_IO, "%s: not a folder", dir);
    name_list l = {0};
    ct_status s = class_images(dir, &l);
    if (s != CT_OK) {
        names_free(&l);
        return s;
    }
    *paths = l.v, *n = l.n;
    return CT_OK;
}

/* The images of the part folder's classes (each one of train's classes) with their labels. */
static ct_status part_images(const char *part_dir, const name_list *classes, int train,
                             name_list *paths, uint8_t **labels) {
    name_list sub = {0};
    int64_t cap = 0;
    *labels = NULL;
    ct_status s = list_entries(part_dir, 1, &sub);
    for (int64_t j = 0; j < sub.n && s == CT_OK; j++) {
        char **hit = bsearch(&sub.v[j], classes->v, (size_t)classes->n, sizeof *classes->v, by_name);
        if (!hit) {
            s = ct_fail(CT_ERR_FORMAT, "%s/%s: a class that the train folder does not have",
                        part_dir, sub.v[j]);
            break;
        }
        char cdir[PATH_MAX];
        snprintf(cdir, sizeof cdir, "%s/%s", part_dir, sub.v[j]);
        int64_t before = paths->n;
        if ((s = class_images(cdir, paths)) != CT_OK) break;
        if (train && paths->n == before) {
            s = ct_fail(CT_ERR_FORMAT, "%s: no images in this class (every training class needs "
                        "one, as ImageFolder requires)", cdir);
            break;
        }
        if (paths->n > INT32_MAX) {
            s = ct_fail(CT_ERR_FORMAT, "%s: more than %d images", part_dir, INT32_MAX);
            break;
        }
        if (paths->n > cap) {
            cap = paths->cap;
            uint8_t *l = realloc(*labels, (size_t)cap);
            if (!l) {
                s = ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", part_dir);
                break;
            }
            *labels = l;
        }
        memset(*labels + before, (int)(hit - classes->v), (size_t)(paths->n - before));
    }
    names_free(&sub);
    if (s == CT_OK && paths->n == 0)
        s = ct_fail(CT_ERR_FORMAT, "%s: no images in its class folders (.png, .jpg, .jpeg, "
                    ".pgm, .ppm)", part_dir);
    return s;
}

/* train's class folders, checked */
static ct_status train_classes(const char *train_dir, name_list *classes) {
    CT_TRY(list_entries(train_dir, 1, classes));
    if (classes->n == 0 || classes->n > FOLDER_MAX_CLASSES) {
        ct_status s = classes->n == 0
            ? ct_fail(CT_ERR_FORMAT, "%s: no class folders in it (images go in "
                      "%s/CLASS/IMAGE, a folder a class)", train_dir, train_dir)
            : ct_fail(CT_ERR_FORMAT, "%s: %lld class folders, more than %d (labels are one "
                      "byte)", train_dir, (long long)classes->n, FOLDER_MAX_CLASSES);
        names_free(classes);
        return s;
    }
    for (int64_t k = 0; k < classes->n; k++)
        for (const char *p = classes->v[k]; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) {
                char shown[64];
                snprintf(shown, sizeof shown, "%s", classes->v[k]);
                for (char *q = shown; *q; q++)
                    if ((unsigned char)*q < 0x20 || *q == 0x7f) *q = '?';
                names_free(classes);
                return ct_fail(CT_ERR_FORMAT, "%s/%s: a class folder's name with a control "
                               "character (shown as ?)", train_dir, shown);
            }
    return CT_OK;
}

/* DIR/train scanned: its classes, its images (paths, labels), and the dataset's shape: c
 * (channels, else 3 when any training image is colour, from their headers), h x w (height x
 * width, else the first image's). */
static ct_status scan_train(const char *dir, int channels, int height, int width,
                            name_list *classes, name_list *paths, uint8_t **labels, int *c,
                            int *h, int *w) {
    char train_dir[PATH_MAX];
    struct stat st;
    if (snprintf(train_dir, sizeof train_dir, "%s/train", dir) >= (int)sizeof train_dir)
        return ct_fail(CT_ERR_IO, "%s: path too long", dir);
    if (stat(train_dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ct_fail(CT_ERR_IO, "%s: no train folder in it (an image folder is "
                       "DIR/train/CLASS/IMAGE and DIR/test/CLASS/IMAGE)", dir);
    CT_TRY(train_classes(train_dir, classes));
    ct_status s = part_images(train_dir, classes, 1, paths, labels);
    *c = channels ? channels : 1, *h = height, *w = width;
    /* (with channels given, the first image's header at most: its size when none is asked) */
    for (int64_t i = 0; i < paths->n && s == CT_OK && !(channels && (height || i > 0)); i++) {
        int iw, ih, ic;
        if ((s = ct_image_probe(paths->v[i], &iw, &ih, &ic)) != CT_OK) break;
        if (ic == 3 && !channels) *c = 3;
        if (i == 0 && !height) *h = ih, *w = iw;
    }
    return s;
}

/* Does dir hold val/ beside test/ (then val/ is the validation images, into val_dir)? */
static int folder_has_val(const char *dir, char *val_dir, size_t bytes) {
    char test_dir[PATH_MAX];
    struct stat st;
    snprintf(test_dir, sizeof test_dir, "%s/test", dir);
    snprintf(val_dir, bytes, "%s/val", dir);
    return stat(test_dir, &st) == 0 && S_ISDIR(st.st_mode) && stat(val_dir, &st) == 0 &&
           S_ISDIR(st.st_mode);
}

static int bad_size(int channels, int height, int width) {
    return (channels != 0 && channels != 1 && channels != 3) || height < 0 || width < 0 ||
           (height == 0) != (width == 0) || (int64_t)height * width > (1 << 24);
}

ct_status ct_dataset_folder_shape(const char *dir, int height, int width, int *c, int *h, int *w,
                                  int *classes) {
    if (!dir || bad_size(0, height, width) || !c || !h || !w || !classes)
        return ct_fail(CT_ERR_INVALID, "ct_dataset_folder_shape: bad arguments");
    name_list cl = {0}, paths = {0};
    uint8_t *labels = NULL;
    ct_status s = scan_train(dir, 0, height, width, &cl, &paths, &labels, c, h, w);
    *classes = (int)cl.n;
    free(labels);
    names_free(&cl);
    names_free(&paths);
    return s;
}

/* Decoding on threads: each takes the next DECODE_CHUNK images in turn; a failure at image i
 * stops the images after i, and the error reported is the first image's that fails, as in
 * one thread (every image before it is decoded). */
#define DECODE_CHUNK 16
typedef struct {
    const name_list *paths;
    int c, h, w, resized;
    int resize;      /* images from first_eval on: ct_image_to_planes's resize (0: none) */
    int64_t first_eval;
    uint8_t *images;
    _Atomic int64_t next, fail_at;
    int64_t failed[CT_MAX_THREADS]; /* each thread's first failing image (or n) */
    ct_status status[CT_MAX_THREADS];
    char msg[CT_MAX_THREADS][512];
} decode_job;

static void decode_thread(void *arg, int t, int nt) {
    (void)nt;
    decode_job *j = arg;
    const int64_t n = j->paths->n;
    const size_t bytes = (size_t)j->c * (size_t)j->h * (size_t)j->w;
    j->failed[t] = n;
    for (;;) {
        int64_t i0 = atomic_fetch_add(&j->next, DECODE_CHUNK);
        if (i0 >= n || i0 >= atomic_load(&j->fail_at)) return;
        for (int64_t i = i0; i < i0 + DECODE_CHUNK && i < n; i++) {
            if (i >= atomic_load(&j->fail_at)) return; /* (a later image than a failed one) */
            const char *path = j->paths->v[i];
            ct_image img;
            ct_status s = ct_image_load(path, &img);
            const int resize = i >= j->first_eval ? j->resize : 0;
            if (s == CT_OK) {
                if (!j->resized && !resize && (img.h != j->h || img.w != j->w))
                    s = ct_fail(CT_ERR_FORMAT, "%s: %dx%d pixels, but the dataset's images are "
                                "%dx%d (as its first training image): resize them all to one "
                                "size (--image-size)", path, img.w, img.h, j->w, j->h);
                else
                    s = ct_image_to_planes(&img, j->c, j->h, j->w, resize,
                                           j->images + (size_t)i * bytes);
                ct_image_free(&img);
            }
            if (s != CT_OK) {
                j->failed[t] = i, j->status[t] = s;
                snprintf(j->msg[t], sizeof j->msg[t], "%s", ct_last_error());
                int64_t seen = atomic_load(&j->fail_at);
                while (i < seen && !atomic_compare_exchange_weak(&j->fail_at, &seen, i)) {}
                return;
            }
        }
    }
}

/* paths' images into images (c x h x w bytes each) on `threads` threads (0: the cores); those
 * from first_eval on resized and cropped by resize (0: as the others). */
static ct_status decode_all(const name_list *paths, int threads, int c, int h, int w,
                            int resized, int resize, int64_t first_eval, uint8_t *images) {
    decode_job *j = ct_calloc(1, sizeof *j, "image decoding");
    if (!j) return CT_ERR_NOMEM;
    j->paths = paths, j->c = c, j->h = h, j->w = w, j->resized = resized, j->images = images;
    j->resize = resize, j->first_eval = first_eval;
    atomic_init(&j->next, 0);
    atomic_init(&j->fail_at, paths->n);
    int64_t per = (paths->n + DECODE_CHUNK - 1) / DECODE_CHUNK; /* (no idle threads) */
    int nt = threads > 0 ? threads : ct_cpu_cores();
    if (nt > per) nt = per > 0 ? (int)per : 1;
    ct_pool *pool = NULL;
    ct_status s = nt > 1 ? ct_pool_create(nt, &pool) : CT_OK;
    if (s == CT_OK) {
        ct_pool_run(pool, decode_thread, j);
        for (int t = 0; t < nt; t++) /* the first image that failed, as one thread reports it */
            if (j->failed[t] == atomic_load(&j->fail_at) && j->failed[t] < paths->n)
                s = ct_fail(j->status[t], "%s", j->msg[t]);
    }
    ct_pool_free(pool);
    free(j);
    return s;
}

ct_status ct_dataset_load_folder(const char *dir, const char *part, int channels, int height,
                                 int width, int resize, int threads, ct_dataset **out,
                                 char **class_names) {
    if (out) *out = NULL;
    if (class_names) *class_names = NULL;
    if (!out || !dir || !part || (strcmp(part, "train") != 0 && strcmp(part, "test") != 0) ||
        bad_size(channels, height, width) || threads < 0 || threads > CT_MAX_THREADS ||
        resize < 0 || resize > CT_FOLDER_MAX_RESIZE)
        return ct_fail(CT_ERR_INVALID, "ct_dataset_load_folder: bad arguments");
    name_list classes = {0}, train_paths = {0}, part_paths = {0};
    uint8_t *train_labels = NULL, *part_labels = NULL, *images = NULL;
    int c, h, w;
    ct_status s = scan_train(dir, channels, height, width, &classes, &train_paths, &train_labels,
                             &c, &h, &w);
    if (s != CT_OK) goto done;
    const name_list *paths = &train_paths;
    const uint8_t *labels = train_labels;
    int64_t n_val = 0; /* train: val/'s images after train/'s, when test/ is there too */
    char val_dir[PATH_MAX];
    if (strcmp(part, "train") == 0 && folder_has_val(dir, val_dir, sizeof val_dir)) {
        name_list vp = {0};
        uint8_t *vl = NULL, *all;
        s = part_images(val_dir, &classes, 0, &vp, &vl);
        const int64_t n_train = train_paths.n;
        for (int64_t i = 0; i < vp.n && s == CT_OK; i++) s = push(&train_paths, vp.v[i], val_dir);
        if (s == CT_OK && train_paths.n > INT32_MAX)
            s = ct_fail(CT_ERR_FORMAT, "%s: more than %d images with its val folder's", dir,
                        INT32_MAX);
        if (s == CT_OK && !(all = realloc(train_labels, (size_t)train_paths.n)))
            s = ct_fail(CT_ERR_NOMEM, "out of memory (listing %s)", val_dir);
        if (s == CT_OK) {
            memcpy(all + n_train, vl, (size_t)vp.n);
            train_labels = all, labels = all, n_val = vp.n;
        }
        free(vl);
        names_free(&vp);
        if (s != CT_OK) goto done;
    }
    if (strcmp(part, "test") == 0) {
        char part_dir[PATH_MAX];
        struct stat st;
        snprintf(part_dir, sizeof part_dir, "%s/test", dir);
        if (stat(part_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
            snprintf(part_dir, sizeof part_dir, "%s/val", dir); /* ImageFolder's other name */
            if (stat(part_dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
                s = ct_fail(CT_ERR_IO, "%s: no test (or val) folder in it, beside train "
                            "(DIR/test/CLASS/IMAGE)", dir);
                goto done;
            }
        }
        if ((s = part_images(part_dir, &classes, 0, &part_paths, &part_labels)) != CT_OK) goto done;
        paths = &part_paths, labels = part_labels;
    }
    const int64_t n = paths->n;
    if (resize > 0 && (resize < h || resize < w)) {
        s = ct_fail(CT_ERR_INVALID, "%s: evaluation images resized to %d on their shorter edge "
                    "are smaller than their centre crop of %dx%d, the training images' size",
                    dir, resize, w, h);
        goto done;
    }
    size_t image_bytes = (size_t)c * (size_t)h * (size_t)w, total;
    if (!ct_mul_size(image_bytes, (size_t)n, &total) ||
        !(images = ct_malloc(total, "image folder"))) {
        s = ct_fail(CT_ERR_NOMEM, "out of memory (%lld images of %dx%dx%d)", (long long)n, c,
                    h, w);
        goto done;
    }
    /* resize: test/'s images, or train's from val/ on (its own validation set) */
    const int64_t first_eval = strcmp(part, "test") == 0 ? 0 : n - n_val;
    if ((s = decode_all(paths, threads, c, h, w, height != 0, resize, first_eval, images)) !=
        CT_OK)
        goto done;
    ct_dataset *ds = ct_calloc(1, sizeof *ds, "dataset");
    uint8_t *ds_labels = ds ? ct_malloc((size_t)n, "dataset labels") : NULL;
    if (!ds_labels) {
        free(ds);
        s = CT_ERR_NOMEM;
        goto done;
    }
    memcpy(ds_labels, labels, (size_t)n);
    ds->n = n, ds->c = c, ds->h = h, ds->w = w, ds->classes = (int)classes.n;
    ds->n_val = n_val;
    ds->images = images, ds->labels = ds_labels;
    images = NULL;
    *out = ds;
    if (class_names) {
        size_t bytes = 1;
        for (int64_t k = 0; k < classes.n; k++) bytes += strlen(classes.v[k]) + 1;
        char *t = malloc(bytes), *p = t;
        if (!t) {
            ct_dataset_free(*out);
            *out = NULL;
            s = ct_fail(CT_ERR_NOMEM, "out of memory (class names)");
            goto done;
        }
        for (int64_t k = 0; k < classes.n; k++)
            p += sprintf(p, "%s%s", classes.v[k], k + 1 < classes.n ? "\n" : "");
        *p = 0;
        *class_names = t;
    }
done:
    free(images);
    free(train_labels);
    free(part_labels);
    names_free(&classes);
    names_free(&train_paths);
    names_free(&part_paths);
    return s;
}
