/* Unit tests of gateway/core/fair_lock.c: a holder takes it again at once (recursion),
 * two threads never hold it together, and a waiter gets it at the holder's next release
 * even when the holder asks again right away (arrival order, no starvation). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <time.h>

#include "core/fair_lock.h"

#define ROUNDS 20000

typedef struct {
    gw_fair_lock_t lock;
    long counter;         /* under lock */
    int inside;           /* threads inside the lock: must stay at most 1 */
    bool waiter_done;     /* set by the waiter, under lock */
    bool seen_after_turn; /* what the holder saw when it got the lock back */
} shared_t;

static void test_recursive(void **state)
{
    gw_fair_lock_t l;
    (void)state;

    assert_int_equal(gw_fair_lock_init(&l), 0);
    gw_fair_lock(&l);
    gw_fair_lock(&l); /* would deadlock if not recursive */
    assert_int_equal(gw_fair_lock_queued(&l), 1);
    gw_fair_unlock(&l);
    assert_int_equal(gw_fair_lock_queued(&l), 1); /* still held once */
    gw_fair_unlock(&l);
    assert_int_equal(gw_fair_lock_queued(&l), 0);
    gw_fair_lock(NULL); /* nothing shared: no-ops */
    gw_fair_unlock(NULL);
    gw_fair_lock_fini(&l);
}

static void *count_up(void *arg)
{
    shared_t *s = arg;

    for (int i = 0; i < ROUNDS; i++) {
        gw_fair_lock(&s->lock);
        s->inside++;
        if (s->inside != 1)
            s->counter = -1000000000L; /* seen together: poison the total */
        s->counter++;
        s->inside--;
        gw_fair_unlock(&s->lock);
    }
    return NULL;
}

static void test_exclusive(void **state)
{
    static shared_t s;
    pthread_t a, b;
    (void)state;

    assert_int_equal(gw_fair_lock_init(&s.lock), 0);
    s.counter = 0;
    assert_int_equal(pthread_create(&a, NULL, count_up, &s), 0);
    assert_int_equal(pthread_create(&b, NULL, count_up, &s), 0);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    assert_int_equal(s.counter, 2L * ROUNDS);
    gw_fair_lock_fini(&s.lock);
}

static void *wait_turn(void *arg)
{
    shared_t *s = arg;

    gw_fair_lock(&s->lock);
    s->waiter_done = true;
    gw_fair_unlock(&s->lock);
    return NULL;
}

/* The holder releases and asks again at once, as the fan-out does between two
 * connections: the thread that was waiting must have had its turn in between. */
static void test_waiter_goes_first(void **state)
{
    static shared_t s;
    struct timespec pause = {0, 1000000};
    pthread_t w;
    (void)state;

    assert_int_equal(gw_fair_lock_init(&s.lock), 0);
    gw_fair_lock(&s.lock);
    assert_int_equal(pthread_create(&w, NULL, wait_turn, &s), 0);
    for (int i = 0; i < 10000 && gw_fair_lock_queued(&s.lock) < 2; i++)
        nanosleep(&pause, NULL); /* bounded: until the waiter has its ticket */
    assert_int_equal(gw_fair_lock_queued(&s.lock), 2);
    gw_fair_unlock(&s.lock);
    gw_fair_lock(&s.lock);
    s.seen_after_turn = s.waiter_done;
    gw_fair_unlock(&s.lock);
    pthread_join(w, NULL);
    assert_true(s.seen_after_turn);
    gw_fair_lock_fini(&s.lock);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recursive),
        cmocka_unit_test(test_exclusive),
        cmocka_unit_test(test_waiter_goes_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
