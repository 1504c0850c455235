/*
 * loader.c — shuffled batches assembled by worker threads into pinned staging slots.
 *
 * Batch i of an epoch always lands in slot i % n_slots, and worker w fills batches
 * w, w + workers, w + 2*workers, ...; so content and order are fixed by (seed, epoch) whatever
 * the number of workers. A slot moves FREE -> FILLING (a worker copies into it) -> READY -> (consumer takes it)
 * -> TAKEN -> (consumer releases it) -> FREE. One mutex and two condition variables guard the
 * ring; the copying itself happens outside the lock.
 */
#include "loader/loader.h"
#include "core/core.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

enum { SLOT_FREE = 0, SLOT_FILLING, SLOT_READY, SLOT_TAKEN };

typedef struct {
    uint8_t *images; /* (batch_size, row) pinned */
    uint8_t *labels; /* (batch_size) pinned */
    int state;
    int64_t batch;   /* batch index it holds (READY/TAKEN) */
    int64_t next;    /* the batch it takes next: slot, slot + n_slots, ... (in order, so that a
                      * worker ahead cannot take the slot of a batch still to come) */
} slot_t;

struct ct_loader {
    ct_backend *b;
    const ct_dataset *ds;
    int32_t *idx;      /* (n) the samples to draw from */
    int32_t *order;    /* (n) this epoch's order */
    int64_t n, row, n_batches;
    int batch_size, shuffle, workers, n_slots;
    uint64_t seed;
    slot_t slots[CT_MAX_COPY_SLOTS];
    int64_t next_batch;   /* the consumer's next batch; n_batches until the first epoch */
    int64_t first_batch;  /* where this epoch started (resume) */
    uint64_t generation;  /* bumped by start_epoch; workers restart on a change */
    int stop;
    int paused;           /* start_epoch is rewriting the order */
    pthread_mutex_t lock;
    pthread_cond_t filled, freed; /* READY appeared / FREE appeared or epoch changed */
    pthread_t threads[CT_MAX_WORKERS];
    int n_threads;
    struct worker_arg { struct ct_loader *l; int id; } args[CT_MAX_WORKERS];
};

void ct_epoch_order(const int32_t *idx, int64_t n, uint64_t seed, int epoch, int shuffle,
                    int32_t *order) {
    memcpy(order, idx, (size_t)n * sizeof *order);
    if (!shuffle) return;
    ct_rng r;
    ct_rng_init(&r, seed, CT_STREAM_SHUFFLE);
    r.counter += (uint64_t)epoch << 26; /* each epoch its own 2^28 words of the stream */
    ct_rng_shuffle_i32(&r, order, n);
    for (int64_t i = n - 1; shuffle > 1 && i > 0; i--) /* (i / R <= i: read before written) */
        order[i] = order[i / shuffle];
}

static int64_t batch_len(const ct_loader *l, int64_t batch) {
    int64_t start = batch * l->batch_size, left = l->n - start;
    return left < l->batch_size ? left : l->batch_size;
}

/* Copies batch `batch` of the current order into slot s (no lock held). */
static void fill_slot(ct_loader *l, slot_t *s, int64_t batch) {
    const uint8_t *images = ct_dataset_images(l->ds), *labels = ct_dataset_labels(l->ds);
    const int32_t *ids = l->order + batch * l->batch_size;
    int64_t n = batch_len(l, batch);
    for (int64_t i = 0; i < n; i++) {
        memcpy(s->images + i * l->row, images + (int64_t)ids[i] * l->row, (size_t)l->row);
        s->labels[i] = labels[ids[i]];
    }
}

static void *worker_main(void *arg) {
    ct_loader *l = ((struct worker_arg *)arg)->l;
    const int *id = &((struct worker_arg *)arg)->id;
    uint64_t gen_seen = 0;
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (!l->stop && (l->paused || l->generation == gen_seen)) pthread_cond_wait(&l->freed, &l->lock);
        if (l->stop) break;
        uint64_t gen = gen_seen = l->generation;
        for (int64_t i = l->first_batch + *id; i < l->n_batches; i += l->workers) {
            slot_t *s = &l->slots[i % l->n_slots];
            while (!l->stop && l->generation == gen && (s->state != SLOT_FREE || s->next != i))
                pthread_cond_wait(&l->freed, &l->lock);
            if (l->stop || l->generation != gen) break;
            s->state = SLOT_FILLING;
            pthread_mutex_unlock(&l->lock);
            fill_slot(l, s, i);
            pthread_mutex_lock(&l->lock);
            if (l->generation != gen) {
                s->state = SLOT_FREE; /* the epoch was abandoned meanwhile */
                pthread_cond_broadcast(&l->freed);
                break;
            }
            s->batch = i;
            s->state = SLOT_READY;
            pthread_cond_broadcast(&l->filled);
        }
    }
    pthread_mutex_unlock(&l->lock);
    return NULL;
}

ct_status ct_loader_create(ct_backend *b, const ct_dataset *ds, const int32_t *idx, int64_t n,
                           int batch_size, int shuffle, uint64_t seed, int workers, int prefetch,
                           ct_loader **out) {
    *out = NULL;
    if (n <= 0) return ct_fail(CT_ERR_INVALID, "loader: no samples");
    if (batch_size <= 0) return ct_fail(CT_ERR_INVALID, "loader: batch size must be positive");
    if (workers < 0 || workers > CT_MAX_WORKERS)
        return ct_fail(CT_ERR_INVALID, "loader: workers must be in 0..%d, got %d",
                       CT_MAX_WORKERS, workers);
    if (prefetch < 1) prefetch = 1;
    int64_t count = ct_dataset_count(ds);
    for (int64_t i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= count)
            return ct_fail(CT_ERR_INVALID, "loader: index %d out of range (dataset has %lld)",
                           idx[i], (long long)count);
    ct_loader *l = ct_calloc(1, sizeof *l, "loader");
    if (!l) return CT_ERR_NOMEM;
    l->b = b;
    l->ds = ds;
    l->n = n;
    l->row = (int64_t)ct_dataset_channels(ds) * ct_dataset_height(ds) * ct_dataset_width(ds);
    l->batch_size = batch_size;
    l->n_batches = (n + batch_size - 1) / batch_size;
    l->shuffle = shuffle;
    l->seed = seed;
    l->workers = workers;
    int64_t slots = (int64_t)(workers ? workers : 1) * prefetch; /* 64 x INT_MAX fits */
    l->n_slots = slots < 2 ? 2 : slots > CT_MAX_COPY_SLOTS ? CT_MAX_COPY_SLOTS : (int)slots;
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->filled, NULL);
    pthread_cond_init(&l->freed, NULL);
    ct_status s = CT_OK;
    l->idx = ct_malloc((size_t)n * sizeof(int32_t), "loader indices");
    l->order = ct_malloc((size_t)n * sizeof(int32_t), "loader order");
    if (!l->idx || !l->order) { s = CT_ERR_NOMEM; goto fail; }
    memcpy(l->idx, idx, (size_t)n * sizeof(int32_t));
    memcpy(l->order, idx, (size_t)n * sizeof(int32_t));
    l->next_batch = l->n_batches;
    for (int i = 0; i < l->n_slots; i++) {
        if ((s = b->host_alloc(b, (size_t)(batch_size * l->row), (void **)&l->slots[i].images)))
            goto fail;
        if ((s = b->host_alloc(b, (size_t)batch_size, (void **)&l->slots[i].labels))) goto fail;
    }
    for (int w = 0; w < workers; w++) {
        l->args[w].l = l;
        l->args[w].id = w;
        if (pthread_create(&l->threads[w], NULL, worker_main, &l->args[w]) != 0) {
            s = ct_fail(CT_ERR_NOMEM, "loader: cannot start worker thread %d", w);
            goto fail;
        }
        l->n_threads++;
    }
    *out = l;
    return CT_OK;
fail:
    ct_loader_free(l);
    return s;
}

void ct_loader_free(ct_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->lock);
    l->stop = 1;
    pthread_cond_broadcast(&l->freed);
    pthread_mutex_unlock(&l->lock);
    for (int i = 0; i < l->n_threads; i++) pthread_join(l->threads[i], NULL);
    for (int i = 0; i < l->n_slots; i++) {
        l->b->host_free(l->b, l->slots[i].images);
        l->b->host_free(l->b, l->slots[i].labels);
    }
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->filled);
    pthread_cond_destroy(&l->freed);
    free(l->idx);
    free(l->order);
    free(l);
}

int64_t ct_loader_batches(const ct_loader *l) { return l->n_batches; }
const int32_t *ct_loader_order(const ct_loader *l) { return l->order; }

ct_status ct_loader_start_epoch(ct_loader *l, int epoch) {
    return ct_loader_start_epoch_at(l, epoch, 0);
}

ct_status ct_loader_start_epoch_at(ct_loader *l, int epoch, int64_t first) {
    if (first < 0 || first > l->n_batches)
        return ct_fail(CT_ERR_INVALID, "loader: batch %lld outside 0..%lld", (long long)first,
                       (long long)l->n_batches);
    pthread_mutex_lock(&l->lock);
    /* pause the workers and abandon the previous epoch; wait for fills in progress to end, as
     * they read the order we are about to rewrite */
    l->paused = 1;
    l->generation++;
    pthread_cond_broadcast(&l->freed);
    for (;;) {
        int filling = 0;
        for (int i = 0; i < l->n_slots; i++) filling |= l->slots[i].state == SLOT_FILLING;
        if (!filling) break;
        pthread_cond_wait(&l->freed, &l->lock);
    }
    ct_epoch_order(l->idx, l->n, l->seed, epoch, l->shuffle, l->order);
    for (int i = 0; i < l->n_slots; i++) { /* the first batch >= first that maps to slot i */
        l->slots[i].state = SLOT_FREE;
        l->slots[i].next = first + ((i - first) % l->n_slots + l->n_slots) % l->n_slots;
    }
    l->first_batch = l->next_batch = first;
    l->paused = 0;
    pthread_cond_broadcast(&l->freed);
    pthread_mutex_unlock(&l->lock);
    return CT_OK;
}

int ct_loader_next(ct_loader *l, ct_batch *out) {
    if (l->next_batch >= l->n_batches) return 0;
    int64_t i = l->next_batch++;
    slot_t *s = &l->slots[i % l->n_slots];
    if (l->workers == 0) {
        fill_slot(l, s, i);
        s->batch = i;
        s->state = SLOT_TAKEN;
    } else {
        pthread_mutex_lock(&l->lock);
        while (!(s->state == SLOT_READY && s->batch == i)) pthread_cond_wait(&l->filled, &l->lock);
        s->state = SLOT_TAKEN;
        pthread_mutex_unlock(&l->lock);
    }
    out->images = s->images;
    out->labels = s->labels;
    out->idx = l->order + i * l->batch_size;
    out->n = batch_len(l, i);
    out->index = i;
    out->slot = (int)(i % l->n_slots);
    return 1;
}

void ct_loader_release(ct_loader *l, const ct_batch *batch) {
    slot_t *s = &l->slots[batch->slot];
    if (l->workers == 0) {
        s->state = SLOT_FREE;
        return;
    }
    pthread_mutex_lock(&l->lock);
    s->state = SLOT_FREE;
    s->next = batch->index + l->n_slots;
    pthread_cond_broadcast(&l->freed);
    pthread_mutex_unlock(&l->lock);
}
