/*
 * test_schedule.c — the learning-rate schedules (ct_schedule_lr, ct_schedule_momentum,
 * ct_plateau_cuts) against torch.optim.lr_scheduler: StepLR, MultiStepLR, CosineAnnealingLR,
 * OneCycleLR (its options and cycled momentum), ExponentialLR, PolynomialLR,
 * CosineAnnealingWarmRestarts, LinearLR chained, ReduceLROnPlateau and its knobs, as sequences
 * PyTorch 1.13 printed (/usr/bin/python3) and as the formulas in double over runs of several
 * phases; and the settings ct_train_config_check refuses. (Schedules inside ct_fit:
 * test_optim.c.)
 */
#include "testutil.h"

#include "core/core.h"
#include "optim/optim.h"

#include <math.h>
#include <stdio.h>
#include <string.h>


/* ExponentialLR: lr * gamma^epoch, the same at every step of an epoch (warm-up multiplies). */
static void test_exponential_schedule(void **state) {
    ct_train_config c = tu_train_config();
    c.num_phases = 1;
    c.phases[0] = (ct_phase){4, 0.5f};
    c.schedule = CT_SCHED_EXPONENTIAL;
    c.gamma = 0.8f;
    for (int e = 0; e < 4; e++)
        for (int s = 0; s < 3; s++)
            tu_near("ExponentialLR", e * 3 + s, ct_schedule_lr(&c, e, s, 3),
                 0.5 * pow((double)0.8f, e), 1e-7);
    c.warmup_epochs = 1; /* LinearLR from 1/3 over epoch 0's 3 steps, then 1 */
    tu_near("ExponentialLR with warm-up", 0, ct_schedule_lr(&c, 0, 0, 3), 0.5 / 3.0, 1e-7);
    tu_near("ExponentialLR with warm-up", 1, ct_schedule_lr(&c, 1, 0, 3), 0.5 * 0.8, 1e-7);
}

/* CosineAnnealingWarmRestarts(T_0=2, T_mult=3, eta_min=0.01) from lr 0.5, stepped 4 times an
 * epoch at the fractional epoch (scheduler.step(k / 4)): PyTorch 1.13's lrs, cycles of 2 and 6
 * epochs, the restart at epoch 8 included. T_mult 1 repeats the first cycle. */
static void test_cosine_restarts_schedule(void **state) {
    static const double torch_lr[33] = {
        0.5, 0.48135048546526527, 0.4282411613907041, 0.348757440929447, 0.255,
        0.16124255907055302, 0.08175883860929586, 0.02864951453473475, 0.5, 0.49790399103658356,
        0.4916518274408217, 0.48135048546526527, 0.4671762239271875, 0.4493715683713526,
        0.4282411613907041, 0.40414655010713657, 0.3775, 0.348757440929447, 0.3184106660501176,
        0.2869789170939127, 0.255, 0.22302108290608738, 0.19158933394988245,
        0.16124255907055307, 0.13250000000000006, 0.10585344989286344, 0.08175883860929586,
        0.060628431628647415, 0.04282377607281252, 0.02864951453473475, 0.01834817255917829,
        0.012096008963416456, 0.5};
    ct_train_config c = tu_train_config();
    c.num_phases = 1;
    c.phases[0] = (ct_phase){9, 0.5f};
    c.schedule = CT_SCHED_COSINE_RESTARTS;
    c.restart_epochs = 2;
    c.restart_mult = 3;
    c.eta_min = 0.01f;
    for (int k = 0; k < 33; k++)
        tu_near("CosineAnnealingWarmRestarts", k, ct_schedule_lr(&c, k / 4, k % 4, 4), torch_lr[k],
             1e-7);
    c.restart_mult = 0; /* (0: 1) cycles of 2 epochs */
    for (int k = 0; k < 24; k++)
        tu_near("CosineAnnealingWarmRestarts T_mult 1", k, ct_schedule_lr(&c, k / 4, k % 4, 4),
             torch_lr[k % 8], 1e-7);
    c.restart_epochs = 0; /* T_0 is required */
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.restart_epochs = 2, c.restart_mult = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* ------------------------------------------------------------------------------------------ */
/* schedules                                                                                   */


static void test_schedules_torch(void **state) {
    /* one step per epoch so that step == epoch where PyTorch steps per epoch */
    static const double onecycle[20] = {
        0.0040000000000000036, 0.013167184270002533, 0.037167184270002526, 0.06683281572999747,
        0.09083281572999748,   0.1,                  0.09874640062350874,  0.09504846320134738,
        0.089091617757105,     0.0811745653949763,   0.07169430017913009,  0.06112620219362893,
        0.0500002,             0.03887419780637107,  0.028306099820869922, 0.0188258346050237,
        0.010908782242895003,  0.004951936798652629, 0.0012539993764912555, 4e-07};
    static const double cosine[10] = {
        0.1, 0.09757729755661011, 0.0905463412215599, 0.07959536998847742, 0.0657963412215599,
        0.0505, 0.03520365877844011, 0.02140463001152259, 0.010453658778440109,
        0.0034227024433899004};
    static const double step[7] = {0.1, 0.1, 0.05, 0.05, 0.025, 0.025, 0.0125};
    static const double warm_cos[10] = {
        0.03333333333333333, 0.048776412907378844, 0.06030056647916493, 0.06615771884551973,
        0.06545084971874739, 0.05000000000000001,  0.03454915028125264, 0.020610737385376353,
        0.009549150281252635, 0.002447174185242324};
    /* OneCycleLR's momentum: SGD's, by default; Adam's beta1 with base_momentum 0.6,
     * max_momentum 0.9, pct_start 0.25 */
    static const double sgd_mom[20] = {
        0.95, 0.9404508497187474, 0.9154508497187474, 0.8845491502812526, 0.8595491502812526,
        0.85, 0.8512536043909088, 0.854951556604879, 0.8609084258765984, 0.8688255099070633,
        0.878305813044122, 0.8888739533021842, 0.8999999999999999, 0.9111260466978157,
        0.9216941869558779, 0.9311744900929366, 0.9390915741234015, 0.945048443395121,
        0.9487463956090911, 0.95};
    static const double adam_beta1[20] = {
        0.9, 0.8560660171779821, 0.75, 0.6439339828220179, 0.6, 0.6032778598899291,
        0.6129681813536099, 0.6286474508437578, 0.6496304090461713, 0.675, 0.7036474508437579,
        0.734320730509852, 0.765679269490148, 0.7963525491562421, 0.825, 0.8503695909538287,
        0.8713525491562422, 0.8870318186463901, 0.8967221401100709, 0.9};
    /* OneCycleLR(max_lr 0.1, total_steps 20): 4 epochs of 5 steps */
    ct_train_config c = tu_sched_config(CT_SCHED_ONECYCLE, 4, 0.1f);
    for (int g = 0; g < 20; g++)
        tu_near("onecycle vs PyTorch", g, ct_schedule_lr(&c, g / 5, g % 5, 5), onecycle[g],
             1e-7 * onecycle[g] + 1e-9);
    for (int g = 0; g < 20; g++) /* not cycled: the fixed momentum */
        tu_near("onecycle, momentum not cycled", g, ct_schedule_momentum(&c, g / 5, g % 5, 5), 0.0,
             0.0);
    c.cycle_momentum = 1;
    for (int g = 0; g < 20; g++)
        tu_near("onecycle's SGD momentum vs PyTorch", g, ct_schedule_momentum(&c, g / 5, g % 5, 5),
             sgd_mom[g], 1e-7);
    ct_train_config ca = c;
    ca.optimizer = CT_ADAM;
    ca.base_momentum = 0.6f, ca.max_momentum = 0.9f, ca.pct_start = 0.25f;
    for (int g = 0; g < 20; g++)
        tu_near("onecycle's Adam beta1 vs PyTorch", g, ct_schedule_momentum(&ca, g / 5, g % 5, 5),
             adam_beta1[g], 1e-7);
    ca.cycle_momentum = 0; /* not cycled: Adam's beta1 (0: 0.9) */
    tu_near("Adam's beta1, not cycled", 0, ct_schedule_momentum(&ca, 1, 2, 5), 0.9, 1e-7);
    /* refused: cycling outside onecycle, a fixed momentum or beta1 beside it, a range outside
     * [0, 1) */
    ct_train_config bad = c;
    bad.schedule = CT_SCHED_COSINE;
    assert_true(isnan(ct_schedule_momentum(&bad, 0, 0, 5)));
    assert_non_null(strstr(ct_last_error(), "one-cycle"));
    bad = c, bad.momentum = 0.9f;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "a fixed momentum of 0.9"));
    bad = ca, bad.cycle_momentum = 1, bad.beta1 = 0.8f;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.max_momentum = 1.0f;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.nesterov = 1; /* Nesterov with a cycled momentum: accepted */
    assert_int_equal(ct_train_config_check(&bad), CT_OK);
    /* CosineAnnealingLR(T_max 10, eta_min 0.001): 10 epochs of 1 step */
    c = tu_sched_config(CT_SCHED_COSINE, 10, 0.1f);
    c.eta_min = 0.001f;
    for (int g = 0; g < 10; g++)
        tu_near("cosine vs PyTorch", g, ct_schedule_lr(&c, g, 0, 1), cosine[g], 1e-7 * cosine[g]);
    /* StepLR(step_size 2, gamma 0.5) */
    c = tu_sched_config(CT_SCHED_STEP, 7, 0.1f);
    c.step_size = 2;
    c.gamma = 0.5f;
    for (int e = 0; e < 7; e++)
        tu_near("step vs PyTorch", e, ct_schedule_lr(&c, e, 3, 4), step[e], 1e-7 * step[e]);
    /* ChainedScheduler([LinearLR(1/3, 4), CosineAnnealingLR(T_max 10)]) */
    c = tu_sched_config(CT_SCHED_COSINE, 10, 0.1f);
    c.warmup_steps = 4;
    for (int g = 0; g < 10; g++)
        tu_near("warm-up + cosine vs PyTorch", g, ct_schedule_lr(&c, g, 0, 1), warm_cos[g],
             1e-7 * warm_cos[g]);
    /* the same warm-up counted in epochs (2 steps each) */
    ct_train_config ce = tu_sched_config(CT_SCHED_COSINE, 10, 0.1f), cs = ce;
    ce.warmup_epochs = 2;
    cs.warmup_steps = 4;
    for (int g = 0; g < 20; g++)
        tu_near("warm-up in epochs", g, ct_schedule_lr(&ce, g / 2, g % 2, 2),
             ct_schedule_lr(&cs, g / 2, g % 2, 2), 0.0);
}

/* OneCycleLR(max_lr 0.1, total_steps 20, pct_start 0.25, div_factor 10, final_div_factor 100,
 * base_momentum 0.8, max_momentum 0.9) with three_phase and anneal_strategy, from PyTorch 1.13:
 * the lr and SGD's momentum of each step. */
static void test_onecycle_options_torch(void **state) {
    (void)state;
    static const struct {
        int three, linear;
        double lr[20], mom[20];
    } cases[] = {
        {1, 1,
         {0.01, 0.0325, 0.05500000000000001, 0.0775, 0.1, 0.0775, 0.055, 0.0325,
          0.009999999999999995, 0.0091, 0.0082, 0.0073, 0.0063999999999999994, 0.0055, 0.0046,
          0.0037, 0.0027999999999999995, 0.001899999999999999, 0.0009999999999999992,
          9.99999999999994e-05},
         {0.9, 0.875, 0.8500000000000001, 0.8250000000000001, 0.8, 0.8250000000000001,
          0.8500000000000001, 0.875, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9}},
        {1, 0,
         {0.009999999999999995, 0.023180194846605356, 0.055, 0.08681980515339464, 0.1,
          0.08681980515339464, 0.05500000000000001, 0.023180194846605363, 0.01,
          0.009799490219391763, 0.009214204987514346, 0.008291560633029162,
          0.007106304314359339, 0.005754458449452763, 0.004345541550547239,
          0.002993695685640663, 0.0018084393669708396, 0.0008857950124856526,
          0.0003005097806082386, 0.0001},
         {0.9, 0.8853553390593274, 0.8500000000000001, 0.8146446609406727, 0.8,
          0.8146446609406727, 0.8500000000000001, 0.8853553390593274, 0.9, 0.9, 0.9, 0.9, 0.9,
          0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9}},
        {0, 1,
         {0.01, 0.0325, 0.05500000000000001, 0.0775, 0.1, 0.09334, 0.08668000000000001,
          0.08002000000000001, 0.07336000000000001, 0.06670000000000001, 0.06004,
          0.053380000000000004, 0.046720000000000005, 0.040060000000000005, 0.03340000000000001,
          0.026740000000000014, 0.02008, 0.013420000000000001, 0.006760000000000002,
          0.00010000000000000286},
         {0.9, 0.875, 0.8500000000000001, 0.8250000000000001, 0.8, 0.8066666666666668,
          0.8133333333333334, 0.8200000000000001, 0.8266666666666667, 0.8333333333333334,
          0.8400000000000001, 0.8466666666666667, 0.8533333333333334, 0.86, 0.8666666666666667,
          0.8733333333333333, 0.88, 0.8866666666666667, 0.8933333333333333, 0.9}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ct_train_config c = tu_sched_config(CT_SCHED_ONECYCLE, 4, 0.1f); /* 4 epochs of 5 steps */
        c.pct_start = 0.25f, c.div_factor = 10.0f, c.final_div_factor = 100.0f;
        c.cycle_momentum = 1, c.base_momentum = 0.8f, c.max_momentum = 0.9f;
        c.three_phase = cases[k].three, c.anneal_linear = cases[k].linear;
        char what[64];
        snprintf(what, sizeof what, "onecycle three_phase %d linear %d", cases[k].three,
                 cases[k].linear);
        for (int g = 0; g < 20; g++) {
            tu_near(what, g, ct_schedule_lr(&c, g / 5, g % 5, 5), cases[k].lr[g],
                 1e-6 * cases[k].lr[g]);
            tu_near(what, g, ct_schedule_momentum(&c, g / 5, g % 5, 5), cases[k].mom[g], 1e-7);
        }
    }
    /* runs so short that pct_start * total_steps < 1: the first phase ends before step 0, and
     * the next starts there (PyTorch's start_step), max_lr 0.1, PyTorch's defaults otherwise */
    static const struct {
        int total, three;
        float pct;
        double lr[9], mom[9];
    } shorts[] = {
        {5, 0, 0.1f,
         {0.09698464310077128, 0.0750001, 0.04131782584628902, 0.01169813105293973, 4e-07},
         {0.8530153689607045, 0.875, 0.9086824088833465, 0.9383022221559488, 0.95}},
        {2, 0, 0.3f, {0.0811745653949763, 4e-07}, {0.8688255099070633, 0.95}},
        {3, 1, 0.3f, {0.003918994048634272, 0.001715598786421084, 4e-07}, {0.95, 0.95, 0.95}},
        {9, 1, 0.1f,
         {0.003994132189207244, 0.0037923518808107184, 0.003330718335191097,
          0.0026761661534413232, 0.0019236021931666673, 0.001182144539384754,
          0.0005593009171171456, 0.00014538059828603074, 4e-07},
         {0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95}},
    };
    for (size_t k = 0; k < sizeof shorts / sizeof shorts[0]; k++) {
        ct_train_config c = tu_sched_config(CT_SCHED_ONECYCLE, shorts[k].total, 0.1f); /* 1 step each */
        c.pct_start = shorts[k].pct, c.three_phase = shorts[k].three, c.cycle_momentum = 1;
        char what[64];
        snprintf(what, sizeof what, "onecycle of %d steps, pct_start %g, three_phase %d",
                 shorts[k].total, (double)shorts[k].pct, shorts[k].three);
        for (int g = 0; g < shorts[k].total; g++) {
            tu_near(what, g, ct_schedule_lr(&c, g, 0, 1), shorts[k].lr[g], 1e-6 * shorts[k].lr[g]);
            tu_near(what, g, ct_schedule_momentum(&c, g, 0, 1), shorts[k].mom[g], 1e-7);
        }
    }
    ct_train_config bad = tu_sched_config(CT_SCHED_ONECYCLE, 4, 0.1f);
    bad.three_phase = 2;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
}

/* The formulas, in double, over runs with many steps per epoch and several phases. */
static void test_schedules_formulas(void **state) {
    const int spe = 7, E = 6;
    const int T = spe * E;
    ct_train_config c = tu_train_config();
    c.num_phases = 2;
    c.phases[0] = (ct_phase){4, 0.2f};
    c.phases[1] = (ct_phase){2, 0.02f};
    for (int e = 0; e < E; e++)
        for (int s = 0; s < spe; s++) {
            int g = e * spe + s;
            double base = e < 4 ? 0.2f : 0.02f;
            c.schedule = CT_SCHED_PHASES;
            tu_near("phases", g, ct_schedule_lr(&c, e, s, spe), base, 1e-7 * base);
            c.schedule = CT_SCHED_STEP;
            c.step_size = 3;
            c.gamma = 0;
            tu_near("step (gamma 0 = 0.1)", g, ct_schedule_lr(&c, e, s, spe),
                 base * pow(0.1, e / 3), 1e-7 * base);
            c.schedule = CT_SCHED_COSINE;
            c.eta_min = 0.001f;
            tu_near("cosine", g, ct_schedule_lr(&c, e, s, spe),
                 0.001f + (base - 0.001f) * (1 + cos(M_PI * g / T)) / 2, 1e-7 * base);
            c.schedule = CT_SCHED_ONECYCLE;
            double init = base / 25, mn = init / 1e4, e1 = 0.3 * T - 1, lr;
            if (g <= e1) lr = base + (init - base) / 2 * (cos(M_PI * g / e1) + 1);
            else lr = mn + (base - mn) / 2 * (cos(M_PI * (g - e1) / (T - 1 - e1)) + 1);
            tu_near("onecycle", g, ct_schedule_lr(&c, e, s, spe), lr, 1e-7 * lr);
            c.warmup_steps = 10;
            c.warmup_start_factor = 0.1f;
            double f = 0.1f + (1 - 0.1f) * (g < 10 ? g : 10) / 10.0;
            tu_near("onecycle with warm-up", g, ct_schedule_lr(&c, e, s, spe), lr * f, 1e-7 * lr);
            c.warmup_steps = 0;
            c.warmup_start_factor = 0;
            c.schedule = CT_SCHED_RANGE_TEST; /* from the phase's lr towards 10 over the run */
            c.end_lr = 10.0f;
            tu_near("range test", g, ct_schedule_lr(&c, e, s, spe), base * pow(10.0 / base, (double)g / T),
                 1e-6 * base * pow(10.0 / base, (double)g / T));
            c.end_lr = 0;
        }
    /* fastai's lr_find ramp: 1e-7 to 10 over 100 steps, a factor of 10^0.08 a step */
    c = tu_sched_config(CT_SCHED_RANGE_TEST, 1, 1e-7f);
    c.end_lr = 10.0f;
    tu_near("range test, step 0", 0, ct_schedule_lr(&c, 0, 0, 100), 1e-7, 1e-13);
    tu_near("range test, step 50", 50, ct_schedule_lr(&c, 0, 50, 100), 1e-3, 1e-9);
    tu_near("range test, step 99", 99, ct_schedule_lr(&c, 0, 99, 100), 10.0 * pow(10.0, -0.08),
         1e-5);
    /* a bad setting is an error from ct_train_config_check (and so from ct_fit) */
    c = tu_sched_config(CT_SCHED_STEP, 3, 0.1f);
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID); /* step_size 0 */
    c = tu_sched_config(CT_SCHED_ONECYCLE, 3, 0.1f);
    c.pct_start = 1.5f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c = tu_sched_config(CT_SCHED_PHASES, 3, 0.1f);
    c.clip_norm = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.clip_norm = 0;
    c.schedule = (ct_schedule_kind)99;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c = tu_sched_config(CT_SCHED_RANGE_TEST, 3, 0.1f); /* end_lr 0 */
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.end_lr = INFINITY;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* ------------------------------------------------------------------------------------------ */

/* ReduceLROnPlateau(SGD([p], lr=0.5), mode="min" (and "max"), factor=0.1, patience=P) stepped with each
 * value of a sequence, the lr read after each step (torch 1.13, /usr/bin/python3): the number of
 * cuts, log(lr / 0.5) / log(0.1). "flat" meets the eps rule (no cut of less than 1e-8). */
static void test_plateau_torch(void **state) {
    static const double a[15] = {1.0, 0.9, 0.95, 0.97, 0.89, 0.89, 0.8999, 0.88991, 0.5, 0.6,
                                 0.7, 0.8, 0.9, 0.55, 0.56};
    static const double nan_seq[10] = {1.0, NAN, NAN, 0.99999, 0.5, NAN, 0.4, 0.4, 0.4, 0.4};
    static const double flat[22] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
                                    2, 2};
    static const struct { const double *seq; int n, patience; int cuts[22]; } cases[] = {
        {a, 15, 1, {0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 5}},
        {a, 15, 2, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 2}},
        {a, 15, 3, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1}},
        {nan_seq, 10, 1, {0, 0, 1, 1, 1, 1, 1, 1, 2, 2}},
        {nan_seq, 10, 2, {0, 0, 0, 1, 1, 1, 1, 1, 1, 2}},
        {nan_seq, 10, 3, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
        {flat, 22, 1, {0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 8, 8, 8, 8}},
        {flat, 14, 2, {0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4}},
        {flat, 14, 3, {0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3}},
        /* patience=0: CT_PATIENCE_NONE */
        {a, 15, CT_PATIENCE_NONE, {0, 0, 1, 2, 2, 3, 4, 4, 4, 5, 6, 7, 8, 8, 8}},
        {nan_seq, 10, CT_PATIENCE_NONE, {0, 1, 2, 3, 3, 4, 4, 5, 6, 7}},
        {flat, 22, CT_PATIENCE_NONE, {0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8}},
    };
    ct_train_config c = tu_sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
    OK(ct_train_config_check(&c));
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        c.plateau_patience = cases[k].patience;
        for (int n = 1; n <= cases[k].n; n++)
            if (ct_plateau_cuts(&c, cases[k].seq, n) != cases[k].cuts[n - 1])
                fail_msg("plateau case %zu (patience %d) after %d epochs: %d cuts, PyTorch %d", k,
                         cases[k].patience, n, ct_plateau_cuts(&c, cases[k].seq, n),
                         cases[k].cuts[n - 1]);
    }
    /* mode="max" (plateau_max: ctrain train --monitor val_acc), the same way: better is above
     * best * (1 + 1e-4) (0.60005 is not above 0.6's, 0.6001 is) */
    static const double acc[15] = {0.5, 0.6, 0.59, 0.6, 0.60005, 0.6001, 0.7, 0.7, 0.69, 0.71,
                                   0.71, 0.7, 0.72, 0.72, 0.5};
    static const double acc_nan[10] = {0.1, NAN, NAN, 0.10001, 0.2, NAN, 0.3, 0.3, 0.3, 0.3};
    static const struct { const double *seq; int n, patience; int cuts[15]; } max_cases[] = {
        {acc, 15, 1, {0, 0, 0, 1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4}},
        {acc, 15, 2, {0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}},
        {acc, 15, CT_PATIENCE_NONE, {0, 0, 1, 2, 3, 3, 3, 4, 5, 5, 6, 7, 7, 8, 8}},
        {acc_nan, 10, 1, {0, 0, 1, 1, 1, 1, 1, 1, 2, 2}},
        {acc_nan, 10, 2, {0, 0, 0, 1, 1, 1, 1, 1, 1, 2}},
        {acc_nan, 10, CT_PATIENCE_NONE, {0, 1, 2, 3, 3, 4, 4, 5, 6, 7}},
    };
    c.plateau_max = 1;
    OK(ct_train_config_check(&c));
    for (size_t k = 0; k < sizeof max_cases / sizeof max_cases[0]; k++) {
        c.plateau_patience = max_cases[k].patience;
        for (int n = 1; n <= max_cases[k].n; n++)
            if (ct_plateau_cuts(&c, max_cases[k].seq, n) != max_cases[k].cuts[n - 1])
                fail_msg("plateau mode=max case %zu (patience %d) after %d epochs: %d cuts, "
                         "PyTorch %d", k, max_cases[k].patience, n,
                         ct_plateau_cuts(&c, max_cases[k].seq, n), max_cases[k].cuts[n - 1]);
    }
    c.plateau_max = 2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_max = 0;
    /* (the flat run stops at 8 cuts: the ninth would change an lr of 5e-9 by less than eps) */
    /* 0 cuts under other schedules; the default patience is PyTorch's 10 */
    c.schedule = CT_SCHED_STEP;
    assert_int_equal(ct_plateau_cuts(&c, flat, 14), 0);
    c = tu_sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
    assert_int_equal(ct_plateau_cuts(&c, flat, 11), 0);
    assert_int_equal(ct_plateau_cuts(&c, flat, 12), 1);
    c.plateau_patience = CT_PATIENCE_NONE;
    OK(ct_train_config_check(&c));
    c.plateau_patience = -2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_patience = 0;
    c.gamma = 1.0f; /* a factor that cuts nothing is refused */
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* ReduceLROnPlateau's other knobs (cooldown, min_lr, threshold and threshold_mode, factor), the
 * lr after each step read from torch 1.13 as above (SGD at lr 0.5; /usr/bin/python3) against
 * 0.5 x ct_plateau_lr_scale over the epochs so far. */
static void test_plateau_torch_knobs(void **state) {
    (void)state;
    static const double a[15] = {1.0, 0.9, 0.95, 0.97, 0.89, 0.89, 0.8999, 0.88991, 0.5, 0.6,
                                 0.7, 0.8, 0.9, 0.55, 0.56};
    static const double flat[14] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    static const double acc[15] = {0.5, 0.6, 0.59, 0.6, 0.60005, 0.6001, 0.7, 0.7, 0.69, 0.71,
                                   0.71, 0.7, 0.72, 0.72, 0.5};
    static const struct {
        const double *seq;
        int n, max, patience, cooldown, abs_mode;
        float threshold, min_lr, factor; /* (threshold: CT_THRESHOLD_NONE is PyTorch's 0) */
        double lr[15];
    } cases[] = {
        {a, 15, 0, 1, 2, 0, 0.0f, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005,
          0.0005}},
        {a, 15, 0, CT_PATIENCE_NONE, 1, 0, 0.0f, 0.0f, 0.1f,
         {0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.0005, 0.0005, 5e-05, 5e-05,
          5e-06, 5e-06}},
        {a, 15, 0, 1, 0, 0, 0.0f, 0.004f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.004, 0.004, 0.004, 0.004,
          0.004}},
        {flat, 14, 0, CT_PATIENCE_NONE, 0, 0, 0.0f, 0.0007f, 0.1f,
         {0.5, 0.05, 0.005, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007, 0.0007,
          0.0007, 0.0007, 0.0007}},
        {a, 15, 0, 1, 0, 0, 0.05f, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005, 0.0005, 5e-05, 5e-05, 5e-06,
          5e-06, 5e-07}},
        {a, 15, 0, 1, 0, 1, 0.02f, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.005, 0.005, 0.0005, 0.0005, 0.0005, 5e-05, 5e-05, 5e-06,
          5e-06, 5e-07}},
        {a, 15, 0, 1, 0, 0, CT_THRESHOLD_NONE, 0.0f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.005, 0.0005, 0.0005, 5e-05,
          5e-05, 5e-06}},
        {acc, 15, 1, 1, 1, 1, 0.015f, 0.003f, 0.1f,
         {0.5, 0.5, 0.5, 0.05, 0.05, 0.05, 0.05, 0.05, 0.005, 0.005, 0.005, 0.003, 0.003, 0.003,
          0.003}},
        {acc, 15, 1, CT_PATIENCE_NONE, 0, 0, CT_THRESHOLD_NONE, 0.0f, 0.5f,
         {0.5, 0.5, 0.25, 0.125, 0.125, 0.125, 0.125, 0.0625, 0.03125, 0.03125, 0.015625,
          0.0078125, 0.0078125, 0.00390625, 0.001953125}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ct_train_config c = tu_sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
        c.plateau_max = cases[k].max;
        c.plateau_patience = cases[k].patience;
        c.plateau_cooldown = cases[k].cooldown;
        c.plateau_threshold_abs = cases[k].abs_mode;
        c.plateau_threshold = cases[k].threshold;
        c.plateau_min_lr = cases[k].min_lr;
        c.gamma = cases[k].factor;
        OK(ct_train_config_check(&c));
        for (int n = 1; n <= cases[k].n; n++) {
            double lr = 0.5 * ct_plateau_lr_scale(&c, cases[k].seq, n), want = cases[k].lr[n - 1];
            if (fabs(lr - want) > 1e-7 * want) /* (min_lr and factor are floats) */
                fail_msg("plateau knobs case %zu after %d epochs: lr %.9g, PyTorch %.9g", k, n, lr,
                         want);
        }
    }
    ct_train_config c = tu_sched_config(CT_SCHED_PLATEAU, 20, 0.5f);
    c.plateau_threshold = -0.5f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_threshold = 0.0f;
    c.plateau_cooldown = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_cooldown = 0;
    c.plateau_min_lr = -1e-3f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_min_lr = 0.0f;
    c.plateau_threshold_abs = 2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    /* min_lr never lifts a later phase's lower lr (PyTorch's cuts never raise the lr) */
    c = tu_sched_config(CT_SCHED_PLATEAU, 2, 0.5f);
    c.num_phases = 2;
    c.phases[1] = (ct_phase){3, 0.001f};
    c.plateau_patience = CT_PATIENCE_NONE;
    c.plateau_min_lr = 0.01f;
    static const double flat5[5] = {2, 2, 2, 2, 2};
    assert_int_equal(ct_plateau_cuts(&c, flat5, 2), 1); /* (0.5 to 0.05 after epoch 1) */
    for (int n = 2; n <= 4; n++) /* (epochs 2-4 at the phase's 0.001, not at min_lr's 0.01) */
        assert_true(ct_plateau_lr_scale(&c, flat5, n) == 1.0);
    /* its settings are checked whatever the schedule (a train state holds them) */
    c = tu_sched_config(CT_SCHED_PHASES, 2, 0.5f);
    c.plateau_min_lr = NAN;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.plateau_min_lr = 0.0f;
    c.plateau_cooldown = -1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* MultiStepLR(milestones [2, 5], gamma 0.5) and PolynomialLR(total_iters 12, power 2 and 0.5)
 * from lr 0.5, the lr read before each step (torch 1.13, /usr/bin/python3): MultiStepLR stepped
 * once an epoch (here 3 steps each: the same lr at every step of an epoch), PolynomialLR once a
 * step (3 epochs of 4); then the settings refused. */
static void test_multistep_polynomial_schedules(void **state) {
    (void)state;
    static const double multistep[8] = {0.5, 0.5, 0.25, 0.25, 0.25, 0.125, 0.125, 0.125};
    static const double poly2[12] = {
        0.5, 0.42013888888888884, 0.34722222222222227, 0.28125, 0.22222222222222224,
        0.17013888888888884, 0.12499999999999999, 0.08680555555555552, 0.05555555555555556,
        0.031249999999999997, 0.013888888888888881, 0.003472222222222225};
    static const double poly_half[12] = {
        0.5, 0.47871355387816905, 0.45643546458763845, 0.43301270189221935, 0.408248290463863,
        0.38188130791298663, 0.35355339059327373, 0.32274861218395134, 0.28867513459481287,
        0.24999999999999997, 0.20412414523193145, 0.14433756729740646};
    ct_train_config c = tu_sched_config(CT_SCHED_MULTISTEP, 8, 0.5f);
    c.num_milestones = 2;
    c.milestones[0] = 2, c.milestones[1] = 5;
    c.gamma = 0.5f;
    for (int e = 0; e < 8; e++)
        for (int s = 0; s < 3; s++)
            tu_near("MultiStepLR vs PyTorch", e * 3 + s, ct_schedule_lr(&c, e, s, 3), multistep[e],
                 1e-7 * multistep[e]);
    c.gamma = 0; /* (0: 0.1) */
    tu_near("MultiStepLR, gamma 0.1", 5, ct_schedule_lr(&c, 5, 0, 3), 0.5 * 0.1 * 0.1, 1e-9);
    c = tu_sched_config(CT_SCHED_POLYNOMIAL, 3, 0.5f);
    c.power = 2.0f;
    for (int g = 0; g < 12; g++)
        tu_near("PolynomialLR(power 2) vs PyTorch", g, ct_schedule_lr(&c, g / 4, g % 4, 4), poly2[g],
             1e-7 * poly2[g]);
    c.power = 0.5f;
    for (int g = 0; g < 12; g++)
        tu_near("PolynomialLR(power 0.5) vs PyTorch", g, ct_schedule_lr(&c, g / 4, g % 4, 4),
             poly_half[g], 1e-7 * poly_half[g]);
    c.power = 0; /* (0: 1, a straight line to 0) */
    for (int g = 0; g < 12; g++)
        tu_near("PolynomialLR(power 1)", g, ct_schedule_lr(&c, g / 4, g % 4, 4),
             0.5 * (1.0 - g / 12.0), 1e-7);
    c.warmup_steps = 4; /* LinearLR(1/3, 4) multiplies it */
    tu_near("PolynomialLR with warm-up", 2, ct_schedule_lr(&c, 0, 2, 4),
         0.5 * (1.0 - 2 / 12.0) * (1.0 / 3.0 + (2.0 / 3.0) * 0.5), 1e-7);
    /* refused: no milestones, milestones not increasing or not after epoch 0, too many,
     * milestones under another schedule, a negative or infinite power */
    c = tu_sched_config(CT_SCHED_MULTISTEP, 8, 0.5f);
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "at least one milestone"));
    c.num_milestones = 2, c.milestones[0] = 3, c.milestones[1] = 3;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "increasing order, got 3 after 3"));
    c.milestones[0] = 0;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.milestones[0] = 1;
    OK(ct_train_config_check(&c));
    c.num_milestones = CT_MAX_MILESTONES + 1;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.num_milestones = 2, c.schedule = CT_SCHED_STEP, c.step_size = 2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "none for another"));
    c = tu_sched_config(CT_SCHED_POLYNOMIAL, 3, 0.5f);
    c.power = -1.0f;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    c.power = INFINITY;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
    assert_true(isnan(ct_schedule_lr(&c, 0, 0, 4)));
}

/* ChainedScheduler([ConstantLR(factor 0.25, total_iters 5), StepLR(step_size 2 epochs of 3
 * steps, gamma 0.5)]) from lr 0.4 (torch 1.13, the lr read before each step): the factor until
 * step 5, then 1; a warmup_constant other than 0 or 1 refused. */
static void test_constant_warmup(void **state) {
    (void)state;
    static const double torch_lr[12] = {0.1, 0.1, 0.1, 0.1, 0.1, 0.4, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2};
    ct_train_config c = tu_sched_config(CT_SCHED_STEP, 4, 0.4f);
    c.step_size = 2, c.gamma = 0.5f;
    c.warmup_steps = 5, c.warmup_start_factor = 0.25f, c.warmup_constant = 1;
    for (int g = 0; g < 12; g++)
        tu_near("ConstantLR warm-up vs PyTorch", g, ct_schedule_lr(&c, g / 3, g % 3, 3), torch_lr[g],
             1e-7 * torch_lr[g]);
    c.warmup_steps = 0, c.warmup_epochs = 1; /* (in epochs: the first epoch's 3 steps) */
    tu_near("ConstantLR warm-up in epochs", 2, ct_schedule_lr(&c, 0, 2, 3), 0.1, 1e-8);
    tu_near("ConstantLR warm-up in epochs", 3, ct_schedule_lr(&c, 1, 0, 3), 0.4, 1e-8);
    c.warmup_constant = 2;
    assert_int_equal(ct_train_config_check(&c), CT_ERR_INVALID);
}

/* torchvision's recipe: SequentialLR([LinearLR(start_factor 0.1, total_iters 2),
 * CosineAnnealingLR(T_max 3)], milestones=[2]) stepped once an epoch (torch 1.13: 0.05 0.275 0.5
 * 0.375 0.125), the same within each epoch's 4 steps; stepped every step instead, the warm-up
 * over the first 2 epochs' 8 steps and the cosine over the last 12; then the settings refused */
static void test_sequential_warmup(void **state) {
    (void)state;
    static const double torch_lr[5] = {0.05, 0.275, 0.5, 0.375, 0.12500000000000006};
    ct_train_config c = tu_sched_config(CT_SCHED_COSINE, 5, 0.5f);
    c.warmup_epochs = 2, c.warmup_start_factor = 0.1f, c.warmup_sequential = 1;
    c.lr_step_epoch = 1;
    for (int e = 0; e < 5; e++)
        for (int i = 0; i < 4; i++)
            tu_near("SequentialLR, once an epoch, vs PyTorch", (size_t)(4 * e + i),
                    ct_schedule_lr(&c, e, i, 4), torch_lr[e], 1e-7);
    c.lr_step_epoch = 0;
    for (int g = 0; g < 20; g++) {
        const double s = 0.1f, want = g < 8 ? 0.5 * (s + (1.0 - s) * g / 8.0)
                                            : 0.5 * (1.0 + cos(M_PI * (g - 8) / 12.0)) / 2.0;
        tu_near("SequentialLR, every step", (size_t)g, ct_schedule_lr(&c, g / 4, g % 4, 4), want,
                1e-6 * want + 1e-9);
    }
    ct_train_config bad = c;
    bad.schedule = CT_SCHED_ONECYCLE;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.warmup_epochs = 0, bad.warmup_steps = 8;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.warmup_sequential = 0, bad.lr_step_epoch = 1, bad.warmup_epochs = 0;
    bad.warmup_steps = 8;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.repeated_aug = CT_MAX_REPEATED_AUG + 1;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "repeated augmentation"));
    bad = c, bad.repeated_aug = -1;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.lr_step_epoch = 2;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.schedule = CT_SCHED_PHASES, bad.num_phases = 2; /* (their epochs: absolute) */
    bad.phases[1] = (ct_phase){2, 0.1f};
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    /* SequentialLR([LinearLR(0.1, 2), StepLR(1, 0.5)]) once an epoch (torch 1.13), and
     * MultiStepLR([1, 2], 0.5) after a ConstantLR(0.1, 2), every one of 3 steps */
    static const double step_lr[5] = {0.05, 0.275, 0.5, 0.25, 0.125};
    ct_train_config st = tu_sched_config(CT_SCHED_STEP, 5, 0.5f);
    st.step_size = 1, st.gamma = 0.5f, st.warmup_epochs = 2, st.warmup_start_factor = 0.1f;
    st.warmup_sequential = 1, st.lr_step_epoch = 1;
    for (int e = 0; e < 5; e++)
        tu_near("SequentialLR with StepLR", (size_t)e, ct_schedule_lr(&st, e, 1, 3), step_lr[e],
                1e-7);
    static const double multi_lr[5] = {0.05, 0.05, 0.5, 0.25, 0.125};
    ct_train_config ms = tu_sched_config(CT_SCHED_MULTISTEP, 5, 0.5f);
    ms.num_milestones = 2, ms.milestones[0] = 1, ms.milestones[1] = 2, ms.gamma = 0.5f;
    ms.warmup_epochs = 2, ms.warmup_start_factor = 0.1f, ms.warmup_constant = 1;
    ms.warmup_sequential = 1;
    for (int g = 0; g < 15; g++)
        tu_near("SequentialLR with MultiStepLR", (size_t)g, ct_schedule_lr(&ms, g / 3, g % 3, 3),
                multi_lr[g / 3], 1e-7);
}

/* CyclicLR(base_lr 0.1, max_lr 0.5, step_size_up 3, step_size_down 2) on SGD (torch 1.13, the
 * lr and momentum read before each step): triangular2 with its momentum cycled (0.8 and 0.9,
 * PyTorch's defaults), exp_range (gamma 0.9) without; 2 epochs of 7 steps; then the settings
 * refused. */
static void test_cyclic_schedule(void **state) {
    (void)state;
    static const double tri2_lr[14] = {
        0.1, 0.2333333333333333, 0.3666666666666666, 0.4999999999999999, 0.29999999999999993,
        0.1, 0.16666666666666674, 0.2333333333333333, 0.29999999999999993, 0.2000000000000001,
        0.1, 0.13333333333333336, 0.16666666666666666, 0.19999999999999998};
    static const double tri2_mom[14] = {
        0.9, 0.8666666666666667, 0.8333333333333334, 0.8, 0.8500000000000001, 0.9,
        0.8833333333333333, 0.8666666666666667, 0.8500000000000001, 0.875, 0.9,
        0.8916666666666667, 0.8833333333333334, 0.875};
    static const double exp_lr[14] = {
        0.1, 0.21999999999999997, 0.31599999999999995, 0.39159999999999995, 0.23121999999999998,
        0.1, 0.1708588000000001, 0.22754584, 0.272186884, 0.17748409780000007, 0.1,
        0.14184141281200005, 0.17531454306160002, 0.20167463313316003};
    ct_train_config c = tu_sched_config(CT_SCHED_CYCLIC, 2, 0.5f);
    c.cyclic_base_lr = 0.1f, c.cyclic_up = 3, c.cyclic_down = 2;
    c.cyclic_mode = CT_CYCLIC_TRIANGULAR2, c.cycle_momentum = 1;
    for (int g = 0; g < 14; g++) {
        tu_near("CyclicLR triangular2 vs PyTorch", g, ct_schedule_lr(&c, g / 7, g % 7, 7), tri2_lr[g],
             1e-7 * tri2_lr[g]);
        tu_near("CyclicLR's momentum vs PyTorch", g, ct_schedule_momentum(&c, g / 7, g % 7, 7),
             tri2_mom[g], 1e-7);
    }
    c.cyclic_mode = CT_CYCLIC_EXP_RANGE, c.gamma = 0.9f, c.cycle_momentum = 0;
    for (int g = 0; g < 14; g++)
        tu_near("CyclicLR exp_range vs PyTorch", g, ct_schedule_lr(&c, g / 7, g % 7, 7), exp_lr[g],
             1e-6 * exp_lr[g]);
    c.cyclic_mode = CT_CYCLIC_TRIANGULAR, c.gamma = 0, c.cyclic_down = 0; /* (down 0: as up) */
    tu_near("CyclicLR triangular, down as up", 3, ct_schedule_lr(&c, 0, 3, 7), 0.5, 1e-7);
    tu_near("CyclicLR triangular, down as up", 5, ct_schedule_lr(&c, 0, 5, 7), 0.1 + 0.4 / 3, 1e-7);
    tu_near("CyclicLR triangular, the next cycle", 9, ct_schedule_lr(&c, 1, 2, 7), 0.5, 1e-7);
    OK(ct_train_config_check(&c));
    ct_train_config bad = c;
    bad.cyclic_base_lr = 0;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.cyclic_up = 0;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.cyclic_down = -1;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.cyclic_mode = 3;
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    bad = c, bad.cycle_momentum = 1, bad.momentum = 0.9f; /* (cycled: no fixed momentum) */
    assert_int_equal(ct_train_config_check(&bad), CT_ERR_INVALID);
    assert_non_null(strstr(ct_last_error(), "the cyclic schedule cycles the momentum"));
    /* with SWALR from epoch 1 the schedule is no longer stepped: its momentum stays the one of
     * epoch 1's first step (without swa_lr it goes on cycling) */
    c.cycle_momentum = 1, c.swa = 1, c.swa_start = 1, c.swa_lr = 0.05f, c.swa_anneal_epochs = 0;
    const float m0 = ct_schedule_momentum(&c, 1, 0, 7);
    tu_near("CyclicLR's momentum under SWALR", 1, ct_schedule_momentum(&c, 1, 3, 7), m0, 0.0);
    tu_near("CyclicLR's momentum under SWALR", 2, ct_schedule_momentum(&c, 1, 6, 7), m0, 0.0);
    tu_near("SWALR's lr", 3, ct_schedule_lr(&c, 1, 3, 7), 0.05, 1e-9);
    c.swa_lr = 0;
    assert_true(ct_schedule_momentum(&c, 1, 3, 7) != m0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schedules_torch),      cmocka_unit_test(test_onecycle_options_torch),
        cmocka_unit_test(test_schedules_formulas),   cmocka_unit_test(test_plateau_torch),
        cmocka_unit_test(test_plateau_torch_knobs),  cmocka_unit_test(test_exponential_schedule),
        cmocka_unit_test(test_cosine_restarts_schedule),
        cmocka_unit_test(test_multistep_polynomial_schedules),
        cmocka_unit_test(test_constant_warmup),     cmocka_unit_test(test_cyclic_schedule),
        cmocka_unit_test(test_sequential_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
