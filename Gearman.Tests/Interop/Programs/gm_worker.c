/*
 * A libgearman worker for the interop tests:
 *
 *   gm_worker HOST PORT FUNC MODE [--timeout MS] [--count N] [--id ID] [--stamp 1]
 *
 * It registers FUNC with gearman_worker_define_function (a v2 function; with --timeout the registration is
 * CAN_DO_TIMEOUT, spec §5.2) and prints "job <handle> <unique> <workload>" on stdout for every job it receives,
 * before acting on MODE:
 *
 *   echo       WORK_COMPLETE with the workload
 *   chatty     WORK_DATA "d1", WORK_STATUS 1/2, WORK_WARNING "w1", WORK_DATA "d2", then WORK_COMPLETE with the workload
 *   fail       WORK_FAIL
 *   exception  WORK_EXCEPTION "boom:<workload>"
 *   crash      prints "crashing" and exits with status 3 without answering (the server must requeue the job)
 *   hang       prints "hanging" and blocks until killed (with --timeout the server must requeue the job)
 *   hold       WORK_STATUS 1/2, prints "status sent", waits for a line on stdin, then WORK_COMPLETE with the
 *              workload and prints "completed"
 *
 * With --stamp 1 each job line is followed by "at <handle> <unix seconds>" (the time the job arrived).
 * With --count N it exits (status 0) after N jobs; otherwise it runs until killed.
 */
#include <libgearman-1.0/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *mode;
static int stamp;

static void say(const char *text)
{
  printf("%s\n", text);
  fflush(stdout);
}

static gearman_return_t job_fn(gearman_job_st *job, void *context)
{
  (void)context;
  const char *workload = (const char *)gearman_job_workload(job);
  size_t size = gearman_job_workload_size(job);
  printf("job %s %s ", gearman_job_handle(job), gearman_job_unique(job));
  fwrite(workload, 1, size, stdout);
  printf("\n");
  if (stamp) printf("at %s %lld\n", gearman_job_handle(job), (long long)time(NULL));
  fflush(stdout);

  if (strcmp(mode, "echo") == 0)
    return gearman_job_send_complete(job, workload, size);

  if (strcmp(mode, "chatty") == 0)
  {
    gearman_return_t ret;
    if (!gearman_success(ret = gearman_job_send_data(job, "d1", 2))) return ret;
    if (!gearman_success(ret = gearman_job_send_status(job, 1, 2))) return ret;
    if (!gearman_success(ret = gearman_job_send_warning(job, "w1", 2))) return ret;
    if (!gearman_success(ret = gearman_job_send_data(job, "d2", 2))) return ret;
    return gearman_job_send_complete(job, workload, size);
  }

  if (strcmp(mode, "fail") == 0)
    return GEARMAN_FAIL;

  if (strcmp(mode, "exception") == 0)
  {
    char message[256];
    int n = snprintf(message, sizeof message, "boom:%.*s", (int)(size < 200 ? size : 200), workload);
    return gearman_job_send_exception(job, message, (size_t)n);
  }

  if (strcmp(mode, "crash") == 0)
  {
    say("crashing");
    _exit(3);
  }

  if (strcmp(mode, "hang") == 0)
  {
    say("hanging");
    for (;;) pause();
  }

  if (strcmp(mode, "hold") == 0)
  {
    gearman_return_t ret = gearman_job_send_status(job, 1, 2);
    if (!gearman_success(ret)) return ret;
    say("status sent");
    char line[64];
    if (fgets(line, sizeof line, stdin) == NULL) return GEARMAN_FAIL;
    ret = gearman_job_send_complete(job, workload, size);
    say("completed");
    return ret;
  }

  return GEARMAN_FAIL;
}

int main(int argc, char **argv)
{
  if (argc < 5)
  {
    fprintf(stderr, "usage: gm_worker HOST PORT FUNC MODE [--timeout MS] [--count N] [--id ID] [--stamp 1]\n");
    return 2;
  }
  mode = argv[4];
  int timeout = 0, count = 0;
  const char *id = NULL;
  for (int i = 5; i + 1 < argc; i += 2)
  {
    if (strcmp(argv[i], "--timeout") == 0) timeout = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--count") == 0) count = atoi(argv[i + 1]);
    else if (strcmp(argv[i], "--id") == 0) id = argv[i + 1];
    else if (strcmp(argv[i], "--stamp") == 0) stamp = atoi(argv[i + 1]);
    else return 2;
  }

  gearman_worker_st worker;
  if (gearman_worker_create(&worker) == NULL) return 3;
  if (!gearman_success(gearman_worker_add_server(&worker, argv[1], (in_port_t)atoi(argv[2])))) return 3;
  if (id != NULL) gearman_worker_set_identifier(&worker, id, strlen(id));
  gearman_function_t fn = gearman_function_create(job_fn);
  if (!gearman_success(gearman_worker_define_function(&worker, argv[3], strlen(argv[3]), fn, (uint32_t)timeout, NULL))) return 3;

  for (int done = 0; count == 0 || done < count; done++)
  {
    gearman_return_t ret = gearman_worker_work(&worker);
    if (!gearman_success(ret))
    {
      printf("work %s\n", gearman_strerror(ret));
      fflush(stdout);
      if (ret == GEARMAN_COULD_NOT_CONNECT || ret == GEARMAN_LOST_CONNECTION) break;
    }
  }

  gearman_worker_free(&worker);
  return 0;
}
