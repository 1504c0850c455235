/*
 * loader.h — batches for the training loop, like torch's DataLoader(shuffle=True, num_workers,
 * pin_memory=True).
 *
 * Each epoch the loader permutes its sample indices with a generator seeded by (seed, epoch), so
 * the order of an epoch can be recomputed (resume) and does not depend on the number of workers.
 * Worker threads fill whole batches (uint8 pixels and labels) into pinned staging slots of the
 * backend, in a ring of `workers * prefetch` slots; the consumer takes them in order and gives
 * each back once its upload has finished.
 */
#ifndef CT_LOADER_H
#define CT_LOADER_H

#include "backend/backend.h"

typedef struct ct_loader ct_loader;

typedef struct {
    const uint8_t *images; /* (n, row) pinned host memory */
    const uint8_t *labels; /* (n) pinned host memory */
    const int32_t *idx;    /* (n) the dataset indices of this batch */
    int64_t n;             /* samples in this batch (the last one may be short) */
    int64_t index;         /* batch number within the epoch */
    int slot;              /* staging slot (0 <= slot < CT_MAX_COPY_SLOTS) */
} ct_batch;

/* idx[0..n): the samples to draw from (copied). shuffle: permute every epoch. workers: 0 fills
 * batches in the calling thread. prefetch: batches in flight per worker. */
ct_status ct_loader_create(ct_backend *b, const ct_dataset *ds, const int32_t *idx, int64_t n,
                           int batch_size, int shuffle, uint64_t seed, int workers, int prefetch,
                           ct_loader **out);
void ct_loader_free(ct_loader *l);
int64_t ct_loader_batches(const ct_loader *l);
/* Begins an epoch (abandoning any batches of the previous one not yet taken). */
ct_status ct_loader_start_epoch(ct_loader *l, int epoch);
/* The same, skipping the epoch's first `first` batches (resuming mid-epoch). */
ct_status ct_loader_start_epoch_at(ct_loader *l, int epoch, int64_t first);
/* The epoch's order of sample indices (n entries), valid until the next start_epoch. */
const int32_t *ct_loader_order(const ct_loader *l);
/* Waits for the next batch of the epoch: 1 with *out filled, 0 at the end of the epoch. */
int ct_loader_next(ct_loader *l, ct_batch *out);
/* Gives a batch's slot back to the workers. */
void ct_loader_release(ct_loader *l, const ct_batch *batch);

/* The epoch order on its own: idx permuted by (seed, epoch) into order (n entries) when
 * shuffle, as it is when 0; shuffle = R > 1: the permutation's first entries each R times in a
 * row, n in all (ct_train_config.repeated_aug). */
void ct_epoch_order(const int32_t *idx, int64_t n, uint64_t seed, int epoch, int shuffle,
                    int32_t *order);

#endif /* CT_LOADER_H */
