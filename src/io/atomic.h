/*
 * atomic.h — files replaced atomically: written beside their final name as a new file
 * .NAME.tmp.PID.N (created exclusively: nothing already there is followed or overwritten),
 * fsync'd, renamed over NAME, and then the folder fsync'd where it can be. A process killed at
 * any moment leaves either the old file or the new one, never a mix.
 *
 * What is already at NAME decides how: a symbolic link to a file has its target replaced (the
 * link stays); a device or pipe (/dev/null, a FIFO) is written to directly, since it cannot be
 * replaced and holds nothing to lose (a pipe with no reader is an error, not a wait);
 * /dev/stdout, /dev/stderr, /dev/fd/N and /proc/self/fd/N
 * are written through that descriptor as it stands (a redirected file is appended to, not
 * replaced); a folder is an error.
 *
 * Test hook: CTRAIN_TEST_SAVE_DELAY_MS=N makes ct_afile_write sleep N ms between chunks of
 * CT_AFILE_CHUNK_BYTES, so that a test can kill a process in the middle of a save.
 */
#ifndef CT_IO_ATOMIC_H
#define CT_IO_ATOMIC_H

#include "core/core.h"

#include <limits.h>

#define CT_AFILE_CHUNK_BYTES (16 * 1024)

typedef struct {
    int fd;               /* -1 when closed */
    char path[PATH_MAX];  /* the final name */
    char tmp[PATH_MAX];   /* the temporary name beside it ("" when written directly) */
    char target[PATH_MAX]; /* what is renamed over: path, or the file a symbolic link names */
    long delay_ms;        /* CTRAIN_TEST_SAVE_DELAY_MS */
    size_t written;       /* bytes written so far */
    ct_status failed;     /* first error of a write (later writes do nothing) */
} ct_afile;

/* Creates the temporary file (removing ones that dead processes left behind for the same name),
 * or opens the device or pipe at path, or the descriptor it names, for writing. */
ct_status ct_afile_open(ct_afile *f, const char *path);
/* Appends n bytes (in chunks, retrying short writes and EINTR). */
ct_status ct_afile_write(ct_afile *f, const void *data, size_t n);
/* fsync, close, rename over the final name, fsync the folder (best effort: the rename is done).
 * On failure the temporary file is removed and the old file stays. */
ct_status ct_afile_commit(ct_afile *f);
/* Closes and removes the temporary file (after a failure). Safe to call twice. */
void ct_afile_abort(ct_afile *f);

#endif /* CT_IO_ATOMIC_H */
