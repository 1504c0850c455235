/*
 * ema.c — the exponential moving average of the weights (ct_train_config.ema_decay).
 *
 * The average lives beside the weights in one device area, parameters then batch norm's
 * running statistics (as torchvision's ExponentialMovingAverage with use_buffers=True: the
 * statistics the average is evaluated with are averaged too). Each training step's last op,
 * ema_update (feeder.c), folds the updated weights in at the step table's decay, so a recorded
 * step (a CUDA graph) replays it. Validation and the end of ct_fit swap the average into the
 * model's own buffers, so that evaluation, checkpoints and plots see it with no other code
 * knowing; the trained weights wait in the average's area until the next epoch trains them.
 */
#include "nn/model.h"

float ct_ema_decay(const ct_train_config *cfg, int64_t k) {
    if (cfg->ema_warmup) {
        double warm = (1.0 + (double)k) / (10.0 + (double)k);
        return warm < (double)cfg->ema_decay ? (float)warm : cfg->ema_decay;
    }
    return k <= 1 ? 0.0f : cfg->ema_decay;
}

ct_status ct_ema_alloc(ct_model *m) {
    if (m->ema) return CT_OK;
    size_t bytes = (size_t)(m->n_params + m->n_buffers) * sizeof(float);
    CT_TRY(m->b->alloc(m->b, bytes, (void **)&m->ema));
    ct_status s = m->b->alloc(m->b, bytes, (void **)&m->ema_tmp);
    if (s != CT_OK) ct_ema_release(m);
    return s;
}

ct_status ct_ema_store(ct_model *m) {
    CT_TRY(ct_ema_alloc(m));
    ct_backend *b = m->b;
    CT_TRY(b->d2d(b, m->ema, m->params, (size_t)m->n_params * sizeof(float)));
    if (m->n_buffers)
        CT_TRY(b->d2d(b, m->ema + m->n_params, m->buffers, (size_t)m->n_buffers * sizeof(float)));
    m->ema_swapped = 0;
    return CT_OK;
}

ct_status ct_ema_swap(ct_model *m, int average) {
    if (!m->ema || m->ema_swapped == average) return CT_OK;
    ct_backend *b = m->b;
    size_t pb = (size_t)m->n_params * sizeof(float), bb = (size_t)m->n_buffers * sizeof(float);
    float *area = m->ema, *tmp = m->ema_tmp;
    CT_TRY(b->d2d(b, tmp, m->params, pb));
    if (bb) CT_TRY(b->d2d(b, tmp + m->n_params, m->buffers, bb));
    CT_TRY(b->d2d(b, m->params, area, pb));
    if (bb) CT_TRY(b->d2d(b, m->buffers, area + m->n_params, bb));
    CT_TRY(b->d2d(b, area, tmp, pb + bb));
    m->ema_swapped = average;
    return CT_OK;
}

void ct_ema_weights(const ct_model *m, int average, float **params, float **buffers) {
    int in_model = !m->ema || m->ema_swapped == average;
    *params = in_model ? m->params : m->ema;
    *buffers = in_model ? m->buffers : m->ema + m->n_params;
}

void ct_ema_release(ct_model *m) {
    m->b->free(m->b, m->ema);
    m->b->free(m->b, m->ema_tmp);
    m->ema = m->ema_tmp = NULL;
    m->ema_swapped = 0;
    m->ema_updates = 0;
}

int64_t ct_model_ema_updates(const ct_model *m) { return m->ema ? m->ema_updates : -1; }
