/*
 * atomic.c — atomic file replacement (see atomic.h).
 */
#include "io/atomic.h"

#include "ctrain/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* "dir/name" → dir ("." when none) and name */
static void split_path(const char *path, char *dir, size_t dir_bytes, const char **name) {
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dir_bytes, ".");
        *name = path;
    } else if (slash == path) {
        snprintf(dir, dir_bytes, "/");
        *name = slash + 1;
    } else {
        snprintf(dir, dir_bytes, "%.*s", (int)(slash - path), path);
        *name = slash + 1;
    }
}

/* Removes dir/.name.tmp.PID.N files (and .name.tmp.PID, as saves before 5 Dec 2026 named them)
 * whose process is gone (a save that was killed). */
static void remove_stale(const char *dir, const char *name) {
    DIR *d = opendir(dir);
    if (!d) return;
    char prefix[PATH_MAX];
    snprintf(prefix, sizeof prefix, ".%s.tmp.", name);
    size_t plen = strlen(prefix);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, prefix, plen) != 0) continue;
        char *end;
        long pid = strtol(e->d_name + plen, &end, 10);
        if ((*end != '.' && *end) || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue; /* alive, or not ours to judge */
        char p[PATH_MAX];
        if (snprintf(p, sizeof p, "%s/%s", dir, e->d_name) < (int)sizeof p) unlink(p);
    }
    closedir(d);
}

/* The descriptor that /dev/stdout, /dev/stderr, /dev/fd/N or /proc/self/fd/N names, else -1:
 * such a name opened anew would start a redirected file over (or be replaced by a rename). */
static int fd_alias(const char *path) {
    if (!strcmp(path, "/dev/stdout")) return 1;
    if (!strcmp(path, "/dev/stderr")) return 2;
    const char *n = !strncmp(path, "/dev/fd/", 8) ? path + 8
                    : !strncmp(path, "/proc/self/fd/", 14) ? path + 14 : NULL;
    if (!n || *n < '0' || *n > '9') return -1;
    char *end;
    long fd = strtol(n, &end, 10);
    return *end || fd > 1 << 20 ? -1 : (int)fd;
}

ct_status ct_afile_open(ct_afile *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    char dir[PATH_MAX];
    const char *name;
    if (strlen(path) >= sizeof f->path) return ct_fail(CT_ERR_IO, "%s: path too long", path);
    split_path(path, dir, sizeof dir, &name);
    if (!*name) return ct_fail(CT_ERR_IO, "%s: not a file name", path);
    snprintf(f->path, sizeof f->path, "%s", path);
    snprintf(f->target, sizeof f->target, "%s", path);
    int alias = fd_alias(path);
    if (alias >= 0) { /* written where the descriptor points, from where it stands (> or >>) */
        f->fd = fcntl(alias, F_DUPFD_CLOEXEC, 0);
        if (f->fd < 0) return ct_fail(CT_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
        return CT_OK;
    }
    struct stat st;
    if (stat(path, &st) == 0) { /* something is there (a link followed to what it names) */
        if (S_ISDIR(st.st_mode)) return ct_fail(CT_ERR_IO, "%s: is a folder, not a file", path);
        if (!S_ISREG(st.st_mode)) { /* a device, pipe or socket: nothing to replace */
            /* not blocking: a pipe with no reader is an error (ENXIO), not a wait forever */
            f->fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
            if (f->fd < 0)
                return ct_fail(CT_ERR_IO, "%s: cannot open: %s", path,
                               errno == ENXIO && S_ISFIFO(st.st_mode) ? "a pipe with no reader"
                                                                      : strerror(errno));
            int fl = fcntl(f->fd, F_GETFL);
            if (fl != -1) fcntl(f->fd, F_SETFL, fl & ~O_NONBLOCK);
            return CT_OK;
        }
        if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) && !realpath(path, f->target))
            return ct_fail(CT_ERR_IO, "%s: cannot resolve the link: %s", path, strerror(errno));
        split_path(f->target, dir, sizeof dir, &name);
    }
    remove_stale(dir, name);
    /* A new name (O_EXCL): whatever is already at it, a link planted there included, is left
     * alone and the next number tried. */
    static _Atomic unsigned serial;
    for (int tries = 0;; tries++) {
        unsigned n = serial++ ^ (unsigned)time(NULL) * 2654435761u;
        if (snprintf(f->tmp, sizeof f->tmp, "%s/.%s.tmp.%ld.%u", dir, name, (long)getpid(), n) >=
            (int)sizeof f->tmp)
            return ct_fail(CT_ERR_IO, "%s: path too long", path);
        f->fd = open(f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (f->fd >= 0) break;
        if (errno != EEXIST || tries == 99) { /* the message names the user's file first */
            int e = errno;
            f->tmp[0] = '\0';
            return ct_fail(CT_ERR_IO, "%s: cannot create a temporary file beside it to write it: "
                           "%s", f->path, strerror(e));
        }
    }
    const char *delay = getenv("CTRAIN_TEST_SAVE_DELAY_MS");
    f->delay_ms = delay ? strtol(delay, NULL, 10) : 0;
    if (f->delay_ms < 0) f->delay_ms = 0;
    return CT_OK;
}

static void sleep_ms(long ms) {
    struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&t, &t) != 0 && errno == EINTR) {}
}

ct_status ct_afile_write(ct_afile *f, const void *data, size_t n) {
    if (f->failed) return f->failed;
    if (f->fd < 0) return f->failed = ct_fail(CT_ERR_IO, "%s: not open", f->path);
    const char *p = data;
    while (n > 0) {
        /* chunks end on multiples of the chunk size, so that the delay hook sees whole chunks */
        size_t room = CT_AFILE_CHUNK_BYTES - f->written % CT_AFILE_CHUNK_BYTES;
        size_t len = n < room ? n : room;
        ssize_t w = write(f->fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return f->failed = ct_fail(CT_ERR_IO, "%s: write failed: %s", f->path, strerror(errno));
        }
        p += w;
        n -= (size_t)w;
        f->written += (size_t)w;
        if (f->delay_ms && f->written % CT_AFILE_CHUNK_BYTES == 0) sleep_ms(f->delay_ms);
    }
    return CT_OK;
}

ct_status ct_afile_commit(ct_afile *f) {
    ct_status s = f->failed;
    if (s == CT_OK && f->fd < 0) s = ct_fail(CT_ERR_IO, "%s: not open", f->path);
    if (!f->tmp[0]) { /* written directly */
        if (f->fd >= 0 && close(f->fd) != 0 && s == CT_OK)
            s = ct_fail(CT_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
        f->fd = -1;
        return s;
    }
    if (s == CT_OK && fsync(f->fd) != 0)
        s = ct_fail(CT_ERR_IO, "%s: fsync failed: %s", f->path, strerror(errno));
    if (f->fd >= 0 && close(f->fd) != 0 && s == CT_OK)
        s = ct_fail(CT_ERR_IO, "%s: close failed: %s", f->path, strerror(errno));
    f->fd = -1;
    if (s == CT_OK && rename(f->tmp, f->target) != 0)
        s = ct_fail(CT_ERR_IO, "%s: cannot rename %s over it: %s", f->path, f->tmp,
                    strerror(errno));
    if (s != CT_OK) {
        unlink(f->tmp);
        return s;
    }
    /* The new file is in place now, whole: syncing the folder (which makes the rename itself
     * survive a power cut) is done where it can be, but its failure does not undo the save
     * (some file systems cannot sync a folder). */
    char dir[PATH_MAX];
    const char *name;
    split_path(f->target, dir, sizeof dir, &name);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return CT_OK;
}

void ct_afile_abort(ct_afile *f) {
    if (f->fd >= 0) {
        close(f->fd);
        f->fd = -1;
        if (f->tmp[0]) unlink(f->tmp);
    }
}

ct_status ct_file_write_atomic(const char *path, const void *data, size_t n) {
    ct_afile f;
    CT_TRY(ct_afile_open(&f, path));
    ct_status s = ct_afile_write(&f, data, n);
    if (s == CT_OK) return ct_afile_commit(&f); /* (which removes its temporary file on failure) */
    ct_afile_abort(&f);
    return s;
}
