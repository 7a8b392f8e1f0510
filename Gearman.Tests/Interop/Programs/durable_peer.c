/*
 * A libgearman peer that keeps going across server restarts, for the persistence fault tests.
 *
 *   durable_peer worker HOST PORT FUNCTION [hang]
 *       Runs jobs of FUNCTION forever. Prints "RUN <unique> <data>" when a job starts (then, with "hang", never
 *       finishes it) and "DONE <unique>" when it returns the result. Errors (lost connection, server down) are printed
 *       as "ERROR <text>" and the loop goes on: libgearman reconnects on the next call.
 *
 *   durable_peer client HOST PORT FUNCTION COUNT PREFIX [PAUSE_AT]
 *       Submits COUNT background jobs with unique and data "PREFIX-i", retrying each until the server answers
 *       JOB_CREATED. Prints "SUBMITTED <unique> <handle>" per job and "RETRY <unique> <text>" per failed attempt.
 *       With PAUSE_AT, prints "PAUSED" after that many submits and waits for a line on stdin before going on (so a
 *       test can stop the server at a known point of the run, however fast or slow the machine is).
 *
 * Output is line-buffered so the test sees every line as it happens.
 */
#include <libgearman/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int hang = 0;

static void *run_job(gearman_job_st *job, void *context, size_t *result_size, gearman_return_t *ret_ptr)
{
    (void)context;
    size_t size = gearman_job_workload_size(job);
    const char *workload = (const char *)gearman_job_workload(job);
    printf("RUN %s %.*s\n", gearman_job_unique(job), (int)size, workload ? workload : "");
    if (hang) {
        for (;;) pause();
    }

    char *result = malloc(size + 1);
    for (size_t i = 0; i < size; i++) result[i] = workload[size - 1 - i];
    *result_size = size;
    *ret_ptr = GEARMAN_SUCCESS;
    printf("DONE %s\n", gearman_job_unique(job));
    return result;
}

static int worker(const char *host, in_port_t port, const char *function)
{
    gearman_worker_st *w = gearman_worker_create(NULL);
    if (w == NULL) return 2;
    if (gearman_worker_add_server(w, host, port) != GEARMAN_SUCCESS) return 2;
    gearman_worker_set_timeout(w, 500);
    if (gearman_worker_add_function(w, function, 0, run_job, NULL) != GEARMAN_SUCCESS) return 2;
    printf("READY\n");
    for (;;) {
        gearman_return_t rc = gearman_worker_work(w);
        if (rc == GEARMAN_SUCCESS || rc == GEARMAN_TIMEOUT || rc == GEARMAN_IO_WAIT || rc == GEARMAN_NO_JOBS) continue;
        printf("ERROR %s\n", gearman_worker_error(w) ? gearman_worker_error(w) : gearman_strerror(rc));
        usleep(50 * 1000);
    }
}

static int client(const char *host, in_port_t port, const char *function, int count, const char *prefix, int pause_at)
{
    gearman_client_st *c = gearman_client_create(NULL);
    if (c == NULL) return 2;
    if (gearman_client_add_server(c, host, port) != GEARMAN_SUCCESS) return 2;
    gearman_client_set_timeout(c, 2000);
    for (int i = 0; i < count; i++) {
        char unique[128];
        snprintf(unique, sizeof unique, "%s-%d", prefix, i);
        for (;;) {
            char handle[GEARMAN_JOB_HANDLE_SIZE];
            gearman_return_t rc = gearman_client_do_background(c, function, unique, unique, strlen(unique), handle);
            if (rc == GEARMAN_SUCCESS) {
                printf("SUBMITTED %s %s\n", unique, handle);
                if (i + 1 == pause_at) {
                    char line[16];
                    printf("PAUSED\n");
                    if (fgets(line, sizeof line, stdin) == NULL) return 3;
                }
                break;
            }

            printf("RETRY %s %s\n", unique, gearman_client_error(c) ? gearman_client_error(c) : gearman_strerror(rc));
            usleep(50 * 1000);
        }
    }

    gearman_client_free(c);
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 5 && strcmp(argv[1], "worker") == 0) {
        hang = argc >= 6 && strcmp(argv[5], "hang") == 0;
        return worker(argv[2], (in_port_t)atoi(argv[3]), argv[4]);
    }

    if ((argc == 7 || argc == 8) && strcmp(argv[1], "client") == 0) {
        return client(argv[2], (in_port_t)atoi(argv[3]), argv[4], atoi(argv[5]), argv[6], argc == 8 ? atoi(argv[7]) : 0);
    }

    fprintf(stderr, "usage: durable_peer worker HOST PORT FUNCTION [hang] | client HOST PORT FUNCTION COUNT PREFIX [PAUSE_AT]\n");
    return 2;
}
