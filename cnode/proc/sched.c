#include "proc/sched.h"

#include "loop.h"
#include "util/log.h"

#include <errno.h>
#include <malloc.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

/* One FIFO run queue shared by all threads: simple and fair; per-thread queues with stealing
 * are the next step if the lock shows up in profiles.
 *
 * Once the node runs (cn_sched_run_io) there is no dedicated I/O thread: one thread at a
 * time holds the poller role and serves the event loop. When what it read made processes
 * runnable, it runs the first one itself, "borrowing" the role: nobody polls meanwhile, and
 * it polls again right after. A call thus needs no thread handoff and no wakeup but the
 * socket's, and bytes that arrive meanwhile are read in one go afterwards. A loan is short
 * (BORROW_NS): a turn gives the role up between two messages once it has run that long, a
 * process whose last turn ran long has it given up before it starts, a thread that blocks
 * (cn_call) gives it up, and a watchdog thread (a timerfd, re-armed every few loans) ends a
 * loan that one long message holds, waking an idle thread to poll. At most nbase threads
 * run processes at once, and there is one thread more than that to poll.
 *
 * A thread that blocks in a process (cn_call & co.) starts another when fewer than nbase
 * started threads would be left unblocked (the main thread, which joins last, is the one to
 * poll). Once the blocked ones are back, those threads are too many: when more than nbase
 * started threads have not been blocked for RETIRE_MS (a process that blocks again and again
 * keeps them), a started thread that finds nothing to do exits. It decides at the point where
 * it would wait again, with the run queue empty and the role held by another thread, so no
 * work or wakeup meant for it is lost. Each retiring thread joins the one that retired before
 * it; the last is joined by the next thread to go idle, or by cn_sched_stop. */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qcond = PTHREAD_COND_INITIALIZER;
static cn_proc *qhead, *qtail;
static int stopping, nbase;
static int busy;           /* threads inside a process (blocked ones included) */
static int blocked;        /* of those, waiting in cn_call & co. */
static int nidle;          /* waiting on qcond */
static int io_mode;        /* cn_sched_run_io has started */
static pthread_t *threads; /* the started threads, slot by slot (qlock) */
static unsigned char *slot_used;
static int nlive;     /* started threads that have not retired (qlock) */
#define MAX_EXTRA 256 /* threads added for blocked schedulers, at most */
#define RETIRE_MS 3000
static uint64_t retire_ns = RETIRE_MS * 1000000ull; /* (qlock) */
static uint64_t surplus_since; /* when the last surplus began: a blocked thread came back (qlock) */
static pthread_t last_retired; /* not joined yet, if retired_pending (qlock) */
static int retired_pending;
static pthread_once_t qcond_once = PTHREAD_ONCE_INIT;

enum { P_VACANT, P_POLLING, P_BORROWED };
static int pstate = P_VACANT;          /* the poller role (qlock) */
static unsigned borrow_gen;            /* counts loans (qlock) */
static _Thread_local unsigned my_loan; /* the loan this thread holds, 0 if none */
static _Thread_local uint64_t borrow_since;
static uint64_t loan_start; /* (qlock) */
#define BORROW_NS 500000    /* how long the sockets may wait for a borrowing thread */
static int wdfd = -1;       /* the watchdog's timer */
static uint64_t wd_until;   /* when it fires (qlock) */
static pthread_t wd_thread;
static int wd_started;

enum { BUDGET = 64, BACKLOG = 4096 }; /* a mailbox this long after a turn: falling behind */

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The watchdog fires by `due` at the latest (qlock held). A timer already due within half a
 * loan is left alone (it fires early, and is re-armed for the loan then): one syscall every
 * few loans instead of one each. */
static void wd_arm(uint64_t due)
{
    if (wdfd < 0 || (wd_until > due - BORROW_NS / 2 && wd_until <= due))
        return;
    struct itimerspec its = {{0, 0}, {(time_t)(due / 1000000000u), (long)(due % 1000000000u)}};
    if (timerfd_settime(wdfd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
        wd_until = due;
}

/* A queued process, and a free place to run it (qlock held). */
static int can_run(void)
{
    return qhead && busy - blocked < nbase;
}
static int serving_io(void)
{
    return io_mode && !cn_loop_stopping();
}

/* Which thread to wake for queued work (qlock held); the wake itself is done after the
 * unlock, or the woken thread would only block on qlock at once. An idle thread first: the
 * poller, woken from its wait, would leave the sockets to run it. */
enum { WAKE_NONE, WAKE_IDLE, WAKE_POLLER };
static int wake_which(void)
{
    if (!can_run())
        return WAKE_NONE;
    return nidle > 0 ? WAKE_IDLE : pstate == P_POLLING ? WAKE_POLLER : WAKE_NONE;
}

static void wake(int which)
{
    if (which == WAKE_IDLE)
        pthread_cond_signal(&qcond);
    else if (which == WAKE_POLLER)
        cn_loop_kick();
}

/* This thread's loan is still running (qlock held): no thread that came free took the
 * role over meanwhile. */
static int loan_current(void)
{
    return my_loan && pstate == P_BORROWED && borrow_gen == my_loan;
}

/* The role goes back (qlock held); returns 1 when an idle thread must be woken to take it. */
static int give_back(void)
{
    int mine = loan_current();
    my_loan = 0;
    if (!mine)
        return 0;
    pstate = P_VACANT;
    return serving_io() && nidle > 0;
}

static void give_back_now(void)
{
    pthread_mutex_lock(&qlock);
    int w = give_back();
    pthread_mutex_unlock(&qlock);
    if (w)
        pthread_cond_signal(&qcond);
}

void cn_sched_checkpoint(void)
{
    if (my_loan && now_ns() - borrow_since > BORROW_NS)
        give_back_now();
}

static void append(cn_proc *p)
{
    p->runq_next = NULL;
    if (qtail)
        qtail->runq_next = p;
    else
        qhead = p;
    qtail = p;
}

void cn_sched_enqueue(cn_proc *p)
{
    pthread_mutex_lock(&qlock);
    append(p);
    /* The poller runs what it made runnable itself, right after its callbacks. */
    int w = cn_loop_in_io() ? WAKE_NONE : wake_which();
    pthread_mutex_unlock(&qlock);
    wake(w);
}

/* qlock held, can_run() true. */
static cn_proc *pop(void)
{
    cn_proc *p = qhead;
    qhead = p->runq_next;
    if (!qhead)
        qtail = NULL;
    busy++;
    return p;
}

/* Returns 1 when the process falls behind: queued again with a long mailbox. */
static int run_one(cn_proc *p)
{
    if (p->slow)
        give_back_now();
    uint64_t t0 = now_ns();
    pthread_mutex_lock(&p->lock);
    p->sched = CN_S_RUNNING;
    pthread_mutex_unlock(&p->lock);
    int more = cn_proc_run(p, BUDGET);
    p->slow = now_ns() - t0 > BORROW_NS;
    pthread_mutex_lock(&p->lock);
    int requeue = !p->dead && (more || p->mq_head != NULL);
    int behind = requeue && p->mq_len > BACKLOG;
    p->sched = requeue ? CN_S_QUEUED : CN_S_IDLE;
    pthread_mutex_unlock(&p->lock);
    pthread_mutex_lock(&qlock);
    busy--;
    if (requeue)
        append(p); /* keeps the queue's reference; this thread looks at the queue next */
    pthread_mutex_unlock(&qlock);
    if (!requeue)
        cn_proc_release(p);
    return behind;
}

/* The poller's turn (qlock held on entry and exit): look at the sockets (without waiting
 * when work is queued), run the callbacks, then borrow the role for what they queued. */
static cn_proc *poll_once(void)
{
    pstate = P_POLLING;
    int block = !can_run();
    pthread_mutex_unlock(&qlock);
    cn_loop_batch b;
    cn_loop_wait(&b, block);
    cn_loop_handle(&b);
    pthread_mutex_lock(&qlock);
    if (!serving_io()) {
        pstate = P_VACANT;
        pthread_cond_broadcast(&qcond); /* the loop stopped: the main thread returns */
        return NULL;
    }
    if (!can_run()) {
        pstate = P_VACANT; /* this thread polls again next */
        return NULL;
    }
    pstate = P_BORROWED;
    my_loan = ++borrow_gen ? borrow_gen : ++borrow_gen;
    borrow_since = loan_start = now_ns();
    wd_arm(loan_start + BORROW_NS);
    return pop();
}

/* Ends a loan that has run past BORROW_NS while no thread polls. */
static void *watchdog(void *arg)
{
    (void)arg;
    for (;;) {
        uint64_t n;
        if (read(wdfd, &n, sizeof n) < 0 && errno != EINTR)
            break;
        pthread_mutex_lock(&qlock);
        if (stopping) {
            pthread_mutex_unlock(&qlock);
            break;
        }
        int w = 0;
        uint64_t now = now_ns();
        if (now >= wd_until)
            wd_until = 0;
        if (pstate == P_BORROWED && now - loan_start >= BORROW_NS) {
            pstate = P_VACANT; /* the borrower finds its loan ended (loan_current) */
            w = serving_io() && nidle > 0;
        } else if (pstate == P_BORROWED) {
            wd_arm(loan_start + BORROW_NS);
        }
        pthread_mutex_unlock(&qlock);
        if (w)
            pthread_cond_signal(&qcond);
    }
    return NULL;
}

/* A started thread with nothing to do leaves while the started threads not blocked have been
 * more than nbase for retire_ns (qlock held, released on return): they cannot all be needed,
 * as at most nbase run processes at once and the main thread is there to poll. Whether this
 * thread ran something a moment ago does not count: idle threads are woken in turn (the
 * condition variable's order, the watchdog's handovers), so under a light steady load each
 * would look busy often enough to stay. It joins the thread that left before it. */
static int retire(int slot)
{
    if (slot < 0 || stopping || nlive - blocked <= nbase || now_ns() - surplus_since < retire_ns)
        return 0;
    int w = give_back(); /* holds no loan here, normally: to be safe */
    nlive--;
    slot_used[slot] = 0;
    pthread_t prev = last_retired;
    int reap = retired_pending;
    last_retired = pthread_self();
    retired_pending = 1;
    pthread_mutex_unlock(&qlock);
    if (w)
        pthread_cond_signal(&qcond);
    if (reap)
        pthread_join(prev, NULL);
    return 1;
}

/* The last thread that retired is joined by the next to retire or, if none does, by the next
 * thread that goes idle (qlock held, released and taken again), so its stack does not stay. */
static int reap_retired(void)
{
    if (!retired_pending || stopping)
        return 0;
    pthread_t t = last_retired;
    retired_pending = 0;
    pthread_mutex_unlock(&qlock);
    pthread_join(t, NULL);
    pthread_mutex_lock(&qlock);
    return 1;
}

/* Wait on qcond (qlock held). While threads were added, a started one also wakes when a
 * surplus is due to end, and every retire_ns anyway (a surplus begins in cn_sched_block_end,
 * which wakes nobody); otherwise, as the main thread always, it waits for a wakeup: an idle
 * node has no timers. */
static void idle_wait(int slot)
{
    nidle++;
    if (slot < 0 || nlive <= nbase) {
        pthread_cond_wait(&qcond, &qlock);
    } else {
        uint64_t now = now_ns(), due = surplus_since + retire_ns;
        if (nlive - blocked <= nbase || due <= now)
            due = now + retire_ns;
        struct timespec ts = {(time_t)(due / 1000000000u), (long)(due % 1000000000u)};
        pthread_cond_timedwait(&qcond, &qlock, &ts);
    }
    nidle--;
}

/* The body of every thread: slot is the started thread's place in threads[], -1 for the
 * main thread, whose loop returns when the event loop stops. */
static void sched_loop(int slot)
{
    int main = slot < 0;
    int handed_off = 0;
    for (;;) {
        pthread_mutex_lock(&qlock);
        cn_proc *p = NULL;
        int polled = 0;
        if (my_loan && !loan_current())
            my_loan = 0; /* given up, or taken over while this thread ran */
        if (!handed_off && serving_io() && (pstate == P_VACANT || pstate == P_BORROWED)) {
            /* Back from a borrowed turn, the role free, or free while another thread
             * borrows it (nobody polls meanwhile): serve the sockets. */
            my_loan = 0;
            p = poll_once();
            polled = 1;
        } else if (can_run()) {
            p = pop();
        }
        handed_off = 0;
        if (p) {
            int w = wake_which(); /* more than this thread takes: pass it on */
            pthread_mutex_unlock(&qlock);
            wake(w);
            if (run_one(p) && my_loan) {
                /* Falling behind: reading and running in turn on one thread leaves a core
                 * idle. An idle thread takes the sockets; this one goes on with the queue. */
                pthread_mutex_lock(&qlock);
                handed_off = give_back();
                pthread_mutex_unlock(&qlock);
                if (handed_off)
                    pthread_cond_signal(&qcond);
            }
            continue;
        }
        if (polled || (!stopping && can_run())) {
            pthread_mutex_unlock(&qlock);
            continue;
        }
        if (stopping || (main && !serving_io())) {
            pthread_mutex_unlock(&qlock);
            return;
        }
        if (reap_retired()) {
            pthread_mutex_unlock(&qlock);
            continue; /* things may have changed meanwhile: look again */
        }
        if (retire(slot))
            return;
        idle_wait(slot);
        pthread_mutex_unlock(&qlock);
    }
}

static void *sched_main(void *arg)
{
    sched_loop((int)(intptr_t)arg);
    return NULL;
}

static void init_qcond(void)
{
    pthread_cond_destroy(&qcond);
    cn_cond_init_monotonic(&qcond); /* idle waits have CLOCK_MONOTONIC deadlines */
}

/* Start a thread in a free slot (qlock held); 0, or -1 when none is free or it failed. */
static int start_thread(void)
{
    for (int i = 0; i < nbase + MAX_EXTRA; i++) {
        if (slot_used[i])
            continue;
        if (pthread_create(&threads[i], NULL, sched_main, (void *)(intptr_t)i) != 0)
            return -1;
        slot_used[i] = 1;
        if (++nlive == nbase + 1 && nidle > 0)
            pthread_cond_broadcast(&qcond); /* the idle ones wait with a deadline from now on */
        return 0;
    }
    return -1;
}

long cn_cpus_available(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

int cn_sched_start(int n)
{
    /* Messages of some MiB are allocated and freed once or twice per message by these
     * threads. glibc would mmap and munmap each, so every one costs a page fault and a zeroed
     * page per 4 KiB (a third of a 16 MiB round trip's time). Keep such buffers in the heap,
     * and up to 128 MiB of freed memory mapped. */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 128 << 20);
    if (n <= 0) {
        long c = cn_cpus_available();
        n = c > 0 ? (int)c : 1;
    }
    pthread_once(&qcond_once, init_qcond);
    pthread_mutex_lock(&qlock);
    nbase = n;
    threads = calloc((size_t)n + MAX_EXTRA, sizeof *threads);
    slot_used = calloc((size_t)n + MAX_EXTRA, 1);
    int r = threads && slot_used ? 0 : -1;
    for (int i = 0; r == 0 && i < n; i++)
        r = start_thread();
    pthread_mutex_unlock(&qlock);
    return r;
}

void cn_sched_run_io(void)
{
    wdfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
    if (wdfd >= 0 && pthread_create(&wd_thread, NULL, watchdog, NULL) == 0)
        wd_started = 1;
    else
        cn_warn("no watchdog thread: a long message can hold up the sockets");
    pthread_mutex_lock(&qlock);
    io_mode = 1;
    pthread_mutex_unlock(&qlock);
    sched_loop(-1);
}

int cn_sched_count(void)
{
    return nbase;
}

int cn_sched_threads(void)
{
    pthread_mutex_lock(&qlock);
    int n = nlive + io_mode;
    pthread_mutex_unlock(&qlock);
    return n;
}

void cn_sched_set_retire_ms(int ms)
{
    pthread_mutex_lock(&qlock);
    retire_ns = (uint64_t)(ms > 0 ? ms : RETIRE_MS) * 1000000u;
    pthread_mutex_unlock(&qlock);
}

void cn_sched_block_begin(void)
{
    pthread_mutex_lock(&qlock);
    int w0 = give_back(); /* the sockets must be served while this thread waits */
    blocked++;
    if (!stopping && nlive - blocked < nbase)
        start_thread();   /* bounded by the slots: nbase + MAX_EXTRA */
    int w = wake_which(); /* this thread's place is free for queued work */
    pthread_mutex_unlock(&qlock);
    if (w0 && w != WAKE_IDLE)
        pthread_cond_signal(&qcond);
    wake(w);
}

void cn_sched_block_end(void)
{
    pthread_mutex_lock(&qlock);
    if (nlive - blocked <= nbase)
        surplus_since = now_ns(); /* a process that blocks again and again keeps its threads */
    blocked--;
    pthread_mutex_unlock(&qlock);
}

void cn_sched_stop(int drain_ms)
{
    uint64_t until = cn_now_ms() + (uint64_t)drain_ms;
    for (;;) {
        pthread_mutex_lock(&qlock);
        int idle = !qhead && busy == 0;
        pthread_mutex_unlock(&qlock);
        if (idle || cn_now_ms() >= until)
            break;
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&qlock);
    stopping = 1;
    pthread_cond_broadcast(&qcond);
    if (wd_started) {
        wd_until = 0;
        wd_arm(now_ns() + BORROW_NS); /* wakes the watchdog, which sees stopping */
    }
    pthread_mutex_unlock(&qlock);
    if (wd_started) {
        pthread_join(wd_thread, NULL);
        wd_started = 0;
    }
    if (wdfd >= 0) {
        close(wdfd);
        wdfd = -1;
    }
    /* No thread starts or retires once stopping is set: the slots hold still. */
    for (int i = 0; threads && slot_used && i < nbase + MAX_EXTRA; i++)
        if (slot_used[i])
            pthread_join(threads[i], NULL);
    pthread_mutex_lock(&qlock);
    int reap = retired_pending;
    retired_pending = 0;
    nlive = 0;
    pthread_mutex_unlock(&qlock);
    if (reap)
        pthread_join(last_retired, NULL); /* it joined the one before it, and so on */
    free(threads);
    free(slot_used);
    threads = NULL;
    slot_used = NULL;
    /* Whatever is still queued is dropped with the process table at exit. */
    pthread_mutex_lock(&qlock);
    while (qhead) {
        cn_proc *p = qhead;
        qhead = p->runq_next;
        cn_proc_release(p);
    }
    qtail = NULL;
    pthread_mutex_unlock(&qlock);
}

void cn_cond_init_monotonic(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}
