/*
 * loadgen: the libgearman load generator of the Gearman.Benchmarks throughput harness.
 *
 * The harness compiles this file on demand (gcc -O2 ... -lgearman -lpthread) into a cache directory and runs it
 * once per phase. Every mode prints exactly one machine-readable line on stdout when it ends:
 *
 *   RESULT mode=<mode> key=value ...
 *
 * Latencies are in microseconds, times in seconds. Diagnostics go to stderr.
 *
 * The load's own CPU (utime + stime) and context switches (voluntary + involuntary), from getrusage, are on every
 * RESULT line as cpu_us= and csw=. The client modes count their client threads over the timed loop only (from the
 * start barrier to the last job, RUSAGE_THREAD), so process start, connecting and teardown are left out, as the
 * SDK's connections are made before its measured window. A worker counts the whole process (RUSAGE_SELF, which keeps
 * the figures of ended threads) since it started; as workers run before and after the measured window, the harness
 * asks for the same figure at the window's start by writing USAGE on the worker's stdin, which the worker answers
 * with one line "USAGE cpu_us=... csw=...", and subtracts.
 *
 * Modes
 *   exec PROGRAM ARGS...     run PROGRAM with SIGKILL as parent-death signal (used to launch the servers, so a
 *                            killed harness never leaves a server behind)
 *   worker                   --threads T workers of the echo function --function; with --jobs N they stop once N
 *                            jobs were done in total (drain measurement), otherwise when stdin reaches EOF or on
 *                            SIGTERM/SIGINT. --mappers M adds M threads serving the partition (map) function
 *                            --mapper, which splits its workload into --size byte chunks for the reducer.
 *                            --latency reads the submit time stamped into each payload and reports
 *                            submit-to-done latency and the span from the first submit to the last job done.
 *                            Prints READY once every thread has connected.
 *   client                   foreground: --threads T clients share --jobs N jobs of --size bytes; --batch 1 uses
 *                            gearman_client_do in a loop, --batch B>1 queues B tasks with add_task and runs them
 *                            with run_tasks (pipelined). Latency: submit to WORK_COMPLETE, per job.
 *   submit                   background: --threads T submitters share --jobs N background jobs, pipelined in
 *                            batches of --batch; each payload carries its submit time (for worker --latency).
 *   mapreduce                --threads T clients share --jobs N gearman_execute_by_partition calls of
 *                            --chunks x --size bytes to --mapper, with --function as the reducer.
 */
#define _GNU_SOURCE
#include <libgearman/gearman.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define STAMP_MAGIC UINT64_C(0x4742454e43484d4b) /* "GBENCHMK" */

struct options {
    const char *host;
    in_port_t port;
    const char *function;
    const char *mapper;
    size_t size;
    int threads;
    int mappers;
    uint64_t jobs;
    int batch;
    int chunks;
    bool latency;
    int timeout_ms;
};

static struct options opt = {
    .host = "127.0.0.1",
    .port = 4730,
    .function = "bench_echo",
    .mapper = "bench_map",
    .size = 16,
    .threads = 1,
    .mappers = 0,
    .jobs = 0,
    .batch = 1,
    .chunks = 1000,
    .latency = false,
    .timeout_ms = -1,
};

static atomic_bool stop_flag;
static atomic_uint_fast64_t jobs_done;
static atomic_uint_fast64_t errors;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/* ---- the load's own CPU and context switches ----------------------------------------------------------------- */

struct usage {
    uint64_t cpu_us;
    uint64_t csw;
};

/* RUSAGE_SELF: the whole process (ended threads included); RUSAGE_THREAD: the calling thread. */
static struct usage usage_now(int who)
{
    struct rusage ru;
    if (getrusage(who, &ru) != 0) {
        perror("getrusage");
        exit(2);
    }
    uint64_t us = (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * UINT64_C(1000000)
                  + (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    return (struct usage){.cpu_us = us, .csw = (uint64_t)(ru.ru_nvcsw + ru.ru_nivcsw)};
}

static void print_usage_fields(struct usage u)
{
    printf(" cpu_us=%" PRIu64 " csw=%" PRIu64, u.cpu_us, u.csw);
}

/* ---- latency samples ------------------------------------------------------------------------------------------ */

struct samples {
    uint64_t *v;
    size_t n;
    size_t cap;
};

static void samples_add(struct samples *s, uint64_t value)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 4096;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) {
            perror("realloc");
            exit(2);
        }
    }
    s->v[s->n++] = value;
}

static void samples_merge(struct samples *into, const struct samples *from)
{
    for (size_t i = 0; i < from->n; i++) samples_add(into, from->v[i]);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in microseconds. */
static double percentile_us(const struct samples *s, double p)
{
    if (s->n == 0) return 0;
    size_t rank = (size_t)(p / 100.0 * (double)s->n + 0.999999999);
    if (rank < 1) rank = 1;
    if (rank > s->n) rank = s->n;
    return (double)s->v[rank - 1] / 1000.0;
}

static void print_latency(struct samples *s)
{
    qsort(s->v, s->n, sizeof *s->v, cmp_u64);
    printf(" samples=%zu p50_us=%.1f p99_us=%.1f max_us=%.1f", s->n, percentile_us(s, 50), percentile_us(s, 99),
           s->n ? (double)s->v[s->n - 1] / 1000.0 : 0.0);
}

/* ---- payloads ------------------------------------------------------------------------------------------------- */

/* Fills a payload; when it has room, the first 16 bytes carry the submit time and a magic for worker --latency. */
static void fill_payload(char *buf, size_t size, uint64_t stamp)
{
    memset(buf, 'x', size);
    if (size >= 16) {
        uint64_t magic = STAMP_MAGIC;
        memcpy(buf, &stamp, 8);
        memcpy(buf + 8, &magic, 8);
    }
}

static bool read_stamp(const void *workload, size_t size, uint64_t *stamp)
{
    uint64_t magic;
    if (size < 16) return false;
    memcpy(&magic, (const char *)workload + 8, 8);
    if (magic != STAMP_MAGIC) return false;
    memcpy(stamp, workload, 8);
    return true;
}

static void *xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p) {
        perror("malloc");
        exit(2);
    }
    return p;
}

static void on_signal(int sig)
{
    (void)sig;
    atomic_store(&stop_flag, true);
}

static void install_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
}

/* Stops the process when the harness closes our stdin (or dies); answers each USAGE line with the process's usage. */
static void *stdin_watch(void *arg)
{
    (void)arg;
    char buf[256];
    size_t matched = 0; /* characters of "USAGE" seen at the start of the current line; SIZE_MAX: another line */
    for (;;) {
        ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
        if (n == 0 || (n < 0 && errno != EINTR)) break;
        for (ssize_t i = 0; i < n; i++) {
            if (buf[i] == '\n') {
                if (matched == 5) {
                    /* One printf per line: glibc locks stdout per call, so it never interleaves with RESULT. */
                    struct usage u = usage_now(RUSAGE_SELF);
                    printf("USAGE cpu_us=%" PRIu64 " csw=%" PRIu64 "\n", u.cpu_us, u.csw);
                    fflush(stdout);
                }
                matched = 0;
            } else if (matched < 5 && buf[i] == "USAGE"[matched]) {
                matched++;
            } else {
                matched = SIZE_MAX;
            }
        }
    }
    atomic_store(&stop_flag, true);
    return NULL;
}

/* ---- worker --------------------------------------------------------------------------------------------------- */

struct worker_thread {
    pthread_t tid;
    int index;
    bool mapper;
    struct samples lat;
    uint64_t first_submit;
    uint64_t last_done;
    uint64_t jobs;
    gearman_worker_st *worker;
};

static pthread_barrier_t ready_barrier;

static void *echo_fn(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret)
{
    struct worker_thread *self = context;
    size_t size = gearman_job_workload_size(job);
    const void *workload = gearman_job_workload(job);
    char *result = xmalloc(size);
    if (size) memcpy(result, workload, size);
    *result_size = size;
    *ret = GEARMAN_SUCCESS;

    uint64_t now = now_ns();
    uint64_t stamp;
    if (opt.latency && read_stamp(workload, size, &stamp)) {
        samples_add(&self->lat, now - stamp);
        if (self->first_submit == 0 || stamp < self->first_submit) self->first_submit = stamp;
    }
    self->last_done = now;
    self->jobs++;
    uint64_t done = atomic_fetch_add(&jobs_done, 1) + 1;
    if (opt.jobs && done >= opt.jobs) atomic_store(&stop_flag, true);
    return result;
}

/* Map step: one reducer task per chunk of --size bytes (libgearman turns send_data into reducer submissions). */
static gearman_return_t split_fn(gearman_job_st *job, void *context)
{
    (void)context;
    const char *workload = gearman_job_workload(job);
    size_t size = gearman_job_workload_size(job);
    size_t chunk = opt.size ? opt.size : 1;
    for (size_t at = 0; at < size; at += chunk) {
        size_t len = size - at < chunk ? size - at : chunk;
        gearman_return_t rc = gearman_job_send_data(job, workload + at, len);
        if (rc != GEARMAN_SUCCESS) return rc;
    }
    atomic_fetch_add(&jobs_done, 1);
    return GEARMAN_SUCCESS;
}

/* Reduce step: the result is "<chunks>:<bytes>" over every reducer result. */
static gearman_return_t count_aggregator(gearman_aggregator_st *aggregator, gearman_task_st *task, gearman_result_st *result)
{
    (void)aggregator;
    uint64_t count = 0, bytes = 0;
    for (; task; task = gearman_next(task)) {
        gearman_result_st *r = gearman_task_result(task);
        count++;
        if (r) bytes += gearman_result_size(r);
    }
    char text[64];
    int len = snprintf(text, sizeof text, "%" PRIu64 ":%" PRIu64, count, bytes);
    return gearman_result_store_value(result, text, (size_t)len);
}

static void *worker_main(void *arg)
{
    struct worker_thread *self = arg;
    gearman_worker_st *w = gearman_worker_create(NULL);
    if (!w) {
        fprintf(stderr, "gearman_worker_create failed\n");
        exit(2);
    }
    self->worker = w;
    gearman_worker_add_server(w, opt.host, opt.port);
    /* A generous timeout for the connect-time echo: an echo that times out leaves its ECHO_RES on the connection,
     * where the first grab then fails with GEARMAN_UNEXPECTED_PACKET (a cold server can take longer than 200 ms). */
    gearman_worker_set_timeout(w, 10000);

    gearman_return_t rc;
    if (self->mapper) {
        rc = gearman_worker_define_function(w, opt.mapper, strlen(opt.mapper),
                                            gearman_function_create_partition(split_fn, count_aggregator), 0, self);
    } else {
        rc = gearman_worker_add_function(w, opt.function, 0, echo_fn, self);
    }
    if (rc != GEARMAN_SUCCESS) {
        fprintf(stderr, "worker %d: register: %s\n", self->index, gearman_worker_error(w));
        exit(2);
    }

    /* Connect before reporting ready; functions are registered with the first grab, right after. */
    for (int attempt = 0; (rc = gearman_worker_echo(w, "ping", 4)) != GEARMAN_SUCCESS; attempt++) {
        if (attempt == 50 || atomic_load(&stop_flag)) {
            fprintf(stderr, "worker %d: cannot connect: %s\n", self->index, gearman_worker_error(w));
            exit(3);
        }
        usleep(100 * 1000);
    }
    gearman_worker_set_timeout(w, 200); /* work() returns GEARMAN_TIMEOUT when idle, so the stop flag is seen */
    pthread_barrier_wait(&ready_barrier);

    while (!atomic_load(&stop_flag)) {
        rc = gearman_worker_work(w);
        if (rc == GEARMAN_SUCCESS || rc == GEARMAN_TIMEOUT || rc == GEARMAN_IO_WAIT || rc == GEARMAN_NO_JOBS) continue;
        if (atomic_load(&stop_flag)) break;
        atomic_fetch_add(&errors, 1);
        fprintf(stderr, "worker %d: %s\n", self->index, gearman_worker_error(w));
        usleep(10 * 1000);
    }
    return NULL;
}

static int run_worker(void)
{
    install_stop_signals();
    int total = opt.threads + opt.mappers;
    if (total < 1) {
        fprintf(stderr, "worker: no threads\n");
        return 2;
    }
    pthread_t watcher;
    pthread_create(&watcher, NULL, stdin_watch, NULL);
    pthread_detach(watcher);

    pthread_barrier_init(&ready_barrier, NULL, (unsigned)total + 1);
    struct worker_thread *threads = calloc((size_t)total, sizeof *threads);
    for (int i = 0; i < total; i++) {
        threads[i].index = i;
        threads[i].mapper = i >= opt.threads;
        pthread_create(&threads[i].tid, NULL, worker_main, &threads[i]);
    }
    pthread_barrier_wait(&ready_barrier);
    uint64_t start = now_ns();
    printf("READY\n");
    fflush(stdout);

    struct samples all = {0};
    uint64_t first = 0, last = 0;
    for (int i = 0; i < total; i++) {
        pthread_join(threads[i].tid, NULL);
        samples_merge(&all, &threads[i].lat);
        if (threads[i].first_submit && (first == 0 || threads[i].first_submit < first)) first = threads[i].first_submit;
        if (threads[i].last_done > last) last = threads[i].last_done;
    }
    struct usage used = usage_now(RUSAGE_SELF);
    uint64_t done = atomic_load(&jobs_done);
    double span = (first && last > first) ? (double)(last - first) / 1e9 : 0;
    printf("RESULT mode=worker threads=%d mappers=%d jobs=%" PRIu64 " errors=%" PRIu64 " seconds=%.6f span_s=%.6f",
           opt.threads, opt.mappers, done, (uint64_t)atomic_load(&errors),
           last > start ? (double)(last - start) / 1e9 : 0.0, span);
    print_usage_fields(used);
    if (opt.latency) print_latency(&all);
    printf("\n");
    fflush(stdout);
    for (int i = 0; i < total; i++) gearman_worker_free(threads[i].worker);
    /* A --jobs run that was stopped early (stdin EOF, signal) did not drain. */
    return (opt.jobs && done < opt.jobs) || atomic_load(&errors) ? 1 : 0;
}

/* ---- clients -------------------------------------------------------------------------------------------------- */

struct client_thread {
    pthread_t tid;
    int index;
    uint64_t jobs;
    uint64_t done;
    uint64_t start;
    uint64_t end;
    struct usage used; /* this thread's CPU and context switches over its timed loop */
    struct samples lat;
};

struct slot {
    uint64_t start;
    uint64_t done;
    size_t size;
};

static pthread_barrier_t start_barrier;

static gearman_return_t on_complete(gearman_task_st *task)
{
    struct slot *s = gearman_task_context(task);
    if (s) {
        s->done = now_ns();
        s->size = gearman_task_data_size(task);
    }
    return GEARMAN_SUCCESS;
}

static gearman_client_st *connect_client(int index)
{
    gearman_client_st *c = gearman_client_create(NULL);
    if (!c) {
        fprintf(stderr, "gearman_client_create failed\n");
        exit(2);
    }
    gearman_client_add_server(c, opt.host, opt.port);
    if (opt.timeout_ms > 0) gearman_client_set_timeout(c, opt.timeout_ms);
    gearman_client_set_complete_fn(c, on_complete);
    gearman_return_t rc;
    for (int attempt = 0; (rc = gearman_client_echo(c, "ping", 4)) != GEARMAN_SUCCESS; attempt++) {
        if (attempt == 50) {
            fprintf(stderr, "client %d: cannot connect: %s\n", index, gearman_client_error(c));
            exit(3);
        }
        usleep(100 * 1000);
    }
    return c;
}

static void fg_do_loop(struct client_thread *self, gearman_client_st *c, const char *payload)
{
    for (uint64_t i = 0; i < self->jobs; i++) {
        size_t result_size = 0;
        gearman_return_t rc;
        uint64_t t0 = now_ns();
        void *result = gearman_client_do(c, opt.function, NULL, payload, opt.size, &result_size, &rc);
        uint64_t t1 = now_ns();
        if (rc != GEARMAN_SUCCESS || result_size != opt.size) {
            atomic_fetch_add(&errors, 1);
            fprintf(stderr, "client %d: do: %s (size %zu)\n", self->index, gearman_client_error(c), result_size);
        } else {
            samples_add(&self->lat, t1 - t0);
            self->done++;
        }
        free(result);
    }
}

static void fg_batch_loop(struct client_thread *self, gearman_client_st *c, const char *payload)
{
    struct slot *slots = calloc((size_t)opt.batch, sizeof *slots);
    gearman_task_st **tasks = calloc((size_t)opt.batch, sizeof *tasks);
    for (uint64_t at = 0; at < self->jobs; at += (uint64_t)opt.batch) {
        int n = (int)(self->jobs - at < (uint64_t)opt.batch ? self->jobs - at : (uint64_t)opt.batch);
        uint64_t t0 = now_ns();
        for (int j = 0; j < n; j++) {
            gearman_return_t rc;
            slots[j] = (struct slot){.start = t0};
            tasks[j] = gearman_client_add_task(c, NULL, &slots[j], opt.function, NULL, payload, opt.size, &rc);
            if (!tasks[j]) {
                fprintf(stderr, "client %d: add_task: %s\n", self->index, gearman_client_error(c));
                exit(2);
            }
        }
        gearman_return_t rc = gearman_client_run_tasks(c);
        if (rc != GEARMAN_SUCCESS) fprintf(stderr, "client %d: run_tasks: %s\n", self->index, gearman_client_error(c));
        for (int j = 0; j < n; j++) {
            if (gearman_task_return(tasks[j]) != GEARMAN_SUCCESS || slots[j].done == 0 || slots[j].size != opt.size) {
                atomic_fetch_add(&errors, 1);
            } else {
                samples_add(&self->lat, slots[j].done - slots[j].start);
                self->done++;
            }
            gearman_task_free(tasks[j]);
        }
    }
    free(slots);
    free(tasks);
}

static void bg_submit_loop(struct client_thread *self, gearman_client_st *c)
{
    int batch = opt.batch > 0 ? opt.batch : 1;
    char *payloads = xmalloc((size_t)batch * opt.size);
    gearman_task_st **tasks = calloc((size_t)batch, sizeof *tasks);
    for (uint64_t at = 0; at < self->jobs; at += (uint64_t)batch) {
        int n = (int)(self->jobs - at < (uint64_t)batch ? self->jobs - at : (uint64_t)batch);
        for (int j = 0; j < n; j++) {
            char *p = payloads + (size_t)j * opt.size;
            gearman_return_t rc;
            fill_payload(p, opt.size, now_ns());
            tasks[j] = gearman_client_add_task_background(c, NULL, NULL, opt.function, NULL, p, opt.size, &rc);
            if (!tasks[j]) {
                fprintf(stderr, "submit %d: add_task_background: %s\n", self->index, gearman_client_error(c));
                exit(2);
            }
        }
        gearman_return_t rc = gearman_client_run_tasks(c);
        if (rc != GEARMAN_SUCCESS) fprintf(stderr, "submit %d: run_tasks: %s\n", self->index, gearman_client_error(c));
        for (int j = 0; j < n; j++) {
            if (gearman_task_return(tasks[j]) != GEARMAN_SUCCESS) atomic_fetch_add(&errors, 1);
            else self->done++;
            gearman_task_free(tasks[j]);
        }
    }
    free(payloads);
    free(tasks);
}

static void mapreduce_loop(struct client_thread *self, gearman_client_st *c)
{
    size_t total = (size_t)opt.chunks * opt.size;
    char *payload = xmalloc(total);
    memset(payload, 'm', total);
    char expected[64];
    snprintf(expected, sizeof expected, "%d:%zu", opt.chunks, total);
    for (uint64_t i = 0; i < self->jobs; i++) {
        gearman_argument_t arg = gearman_argument_make(NULL, 0, payload, total);
        uint64_t t0 = now_ns();
        gearman_task_st *task = gearman_execute_by_partition(c, opt.mapper, strlen(opt.mapper), opt.function,
                                                             strlen(opt.function), NULL, 0, NULL, &arg, NULL);
        uint64_t t1 = now_ns();
        bool ok = false;
        if (task && gearman_task_return(task) == GEARMAN_SUCCESS) {
            gearman_result_st *r = gearman_task_result(task);
            ok = r && gearman_result_size(r) == strlen(expected) && memcmp(gearman_result_value(r), expected, strlen(expected)) == 0;
            if (!ok) {
                fprintf(stderr, "mapreduce %d: unexpected result '%.*s', expected '%s'\n", self->index,
                        r ? (int)gearman_result_size(r) : 0, r ? gearman_result_value(r) : "", expected);
            }
        } else {
            fprintf(stderr, "mapreduce %d: %s\n", self->index,
                    task ? gearman_strerror(gearman_task_return(task)) : gearman_client_error(c));
        }
        if (ok) {
            samples_add(&self->lat, t1 - t0);
            self->done++;
        } else {
            atomic_fetch_add(&errors, 1);
        }
        if (task) gearman_task_free(task);
    }
    free(payload);
}

static const char *client_mode;

static void *client_main(void *arg)
{
    struct client_thread *self = arg;
    gearman_client_st *c = connect_client(self->index);
    char *payload = xmalloc(opt.size);
    fill_payload(payload, opt.size, 0);
    pthread_barrier_wait(&start_barrier);
    self->start = now_ns();
    struct usage begin = usage_now(RUSAGE_THREAD);
    if (strcmp(client_mode, "client") == 0) {
        if (opt.batch <= 1) fg_do_loop(self, c, payload);
        else fg_batch_loop(self, c, payload);
    } else if (strcmp(client_mode, "submit") == 0) {
        bg_submit_loop(self, c);
    } else {
        mapreduce_loop(self, c);
    }
    self->end = now_ns();
    struct usage end = usage_now(RUSAGE_THREAD);
    self->used = (struct usage){.cpu_us = end.cpu_us - begin.cpu_us, .csw = end.csw - begin.csw};
    free(payload);
    gearman_client_free(c);
    return NULL;
}

static int run_clients(const char *mode)
{
    client_mode = mode;
    if (opt.threads < 1 || opt.jobs == 0) {
        fprintf(stderr, "%s: needs --threads >= 1 and --jobs >= 1\n", mode);
        return 2;
    }
    pthread_barrier_init(&start_barrier, NULL, (unsigned)opt.threads);
    struct client_thread *threads = calloc((size_t)opt.threads, sizeof *threads);
    for (int i = 0; i < opt.threads; i++) {
        threads[i].index = i;
        threads[i].jobs = opt.jobs / (uint64_t)opt.threads + ((uint64_t)i < opt.jobs % (uint64_t)opt.threads ? 1 : 0);
        pthread_create(&threads[i].tid, NULL, client_main, &threads[i]);
    }
    struct samples all = {0};
    uint64_t start = 0, end = 0, done = 0;
    struct usage used = {0};
    for (int i = 0; i < opt.threads; i++) {
        pthread_join(threads[i].tid, NULL);
        samples_merge(&all, &threads[i].lat);
        used.cpu_us += threads[i].used.cpu_us;
        used.csw += threads[i].used.csw;
        if (start == 0 || threads[i].start < start) start = threads[i].start;
        if (threads[i].end > end) end = threads[i].end;
        done += threads[i].done;
    }
    double seconds = (double)(end - start) / 1e9;
    printf("RESULT mode=%s threads=%d batch=%d size=%zu jobs=%" PRIu64 " errors=%" PRIu64 " seconds=%.6f rate=%.1f", mode,
           opt.threads, opt.batch, opt.size, done, (uint64_t)atomic_load(&errors), seconds,
           seconds > 0 ? (double)done / seconds : 0.0);
    print_usage_fields(used);
    if (strcmp(mode, "submit") != 0) print_latency(&all);
    printf("\n");
    fflush(stdout);
    return atomic_load(&errors) || done != opt.jobs ? 1 : 0;
}

/* ---- main ----------------------------------------------------------------------------------------------------- */

static void usage(void)
{
    fprintf(stderr,
            "usage: loadgen exec PROGRAM [ARGS...]\n"
            "       loadgen worker|client|submit|mapreduce [--host H] [--port P] [--function F] [--mapper M]\n"
            "               [--size BYTES] [--threads T] [--mappers M] [--jobs N] [--batch B] [--chunks C]\n"
            "               [--latency] [--timeout-ms MS]\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage();
        return 2;
    }
    const char *mode = argv[1];

    /* Die with the harness: the parent-death signal survives exec, so this also covers the servers. */
    pid_t parent = getppid();
    prctl(PR_SET_PDEATHSIG, strcmp(mode, "exec") == 0 ? SIGKILL : SIGTERM);
    if (getppid() != parent) return 3;

    if (strcmp(mode, "exec") == 0) {
        if (argc < 3) {
            usage();
            return 2;
        }
        execvp(argv[2], argv + 2);
        fprintf(stderr, "exec %s: %s\n", argv[2], strerror(errno));
        return 127;
    }

    static const struct option longopts[] = {
        {"host", required_argument, NULL, 'H'},    {"port", required_argument, NULL, 'p'},
        {"function", required_argument, NULL, 'f'}, {"mapper", required_argument, NULL, 'm'},
        {"size", required_argument, NULL, 's'},    {"threads", required_argument, NULL, 't'},
        {"mappers", required_argument, NULL, 'M'}, {"jobs", required_argument, NULL, 'n'},
        {"batch", required_argument, NULL, 'b'},   {"chunks", required_argument, NULL, 'c'},
        {"latency", no_argument, NULL, 'l'},       {"timeout-ms", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    optind = 2;
    int ch;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'H': opt.host = optarg; break;
        case 'p': opt.port = (in_port_t)atoi(optarg); break;
        case 'f': opt.function = optarg; break;
        case 'm': opt.mapper = optarg; break;
        case 's': opt.size = (size_t)strtoull(optarg, NULL, 10); break;
        case 't': opt.threads = atoi(optarg); break;
        case 'M': opt.mappers = atoi(optarg); break;
        case 'n': opt.jobs = strtoull(optarg, NULL, 10); break;
        case 'b': opt.batch = atoi(optarg); break;
        case 'c': opt.chunks = atoi(optarg); break;
        case 'l': opt.latency = true; break;
        case 'T': opt.timeout_ms = atoi(optarg); break;
        default: usage(); return 2;
        }
    }

    if (strcmp(mode, "worker") == 0) return run_worker();
    if (strcmp(mode, "client") == 0 || strcmp(mode, "submit") == 0 || strcmp(mode, "mapreduce") == 0) return run_clients(mode);
    usage();
    return 2;
}
