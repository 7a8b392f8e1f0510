/*
 * A libgearman client that submits jobs to a Gearman.Reactive worker (interop tests in Interop/Worker/). Every event is
 * one line on stdout, flushed at once:
 *
 *   worker_client HOST PORT [--exceptions] MODE ARGS...
 *
 *   events F DATA        one foreground task; its callbacks print "created <H>", "data <bytes>", "warning <bytes>",
 *                        "status <N>/<D>", "complete <bytes>", "fail", "exception <bytes>"; then "ret <code>"
 *   many F N PREFIX      N foreground tasks run together, workloads PREFIX-1 .. PREFIX-N; each completion prints
 *                        "complete <bytes>", each failure "fail <workload>"; then "ret <code>"
 *   bg F N PREFIX        N background jobs, workloads PREFIX-1 .. PREFIX-N; "ret <code>" once all are queued
 *
 * --exceptions sends OPTION_REQ exceptions (GEARMAN_CLIENT_EXCEPTION), so WORK_EXCEPTION reaches the client.
 * Exit status: 0 when the program ran (the return code is printed), 2 on usage errors.
 */
#include <libgearman-1.0/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static gearman_client_st client;

static void print_bytes(const char *prefix, const void *data, size_t size)
{
  fputs(prefix, stdout);
  fwrite(data, 1, size, stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static gearman_return_t on_created(gearman_task_st *task)
{
  printf("created %s\n", gearman_task_job_handle(task));
  fflush(stdout);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_data(gearman_task_st *task)
{
  print_bytes("data ", gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_warning(gearman_task_st *task)
{
  print_bytes("warning ", gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_status(gearman_task_st *task)
{
  printf("status %u/%u\n", gearman_task_numerator(task), gearman_task_denominator(task));
  fflush(stdout);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_complete(gearman_task_st *task)
{
  print_bytes("complete ", gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_fail(gearman_task_st *task)
{
  const char *workload = gearman_task_context(task);
  printf("fail%s%s\n", workload != NULL ? " " : "", workload != NULL ? workload : "");
  fflush(stdout);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_exception(gearman_task_st *task)
{
  gearman_string_t e = gearman_task_exception(task);
  if (gearman_size(e) > 0)
    print_bytes("exception ", gearman_c_str(e), gearman_size(e));
  else
    print_bytes("exception ", gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static void print_ret(gearman_return_t ret)
{
  printf("ret %s\n", gearman_strerror(ret));
  fflush(stdout);
}

static int usage(void)
{
  fprintf(stderr, "usage: worker_client HOST PORT [--exceptions] events F DATA | many F N PREFIX | bg F N PREFIX\n");
  return 2;
}

/* Adds N tasks with workloads PREFIX-1..PREFIX-N; the workload string is the task context. */
static gearman_return_t add_tasks(const char *function, int n, const char *prefix, int background)
{
  for (int i = 1; i <= n; i++)
  {
    size_t size = strlen(prefix) + 16;
    char *workload = malloc(size);
    snprintf(workload, size, "%s-%d", prefix, i);
    gearman_return_t ret;
    gearman_task_st *task = background
      ? gearman_client_add_task_background(&client, NULL, workload, function, NULL, workload, strlen(workload), &ret)
      : gearman_client_add_task(&client, NULL, workload, function, NULL, workload, strlen(workload), &ret);
    if (task == NULL) return ret;
  }
  return GEARMAN_SUCCESS;
}

int main(int argc, char **argv)
{
  if (argc < 4) return usage();
  const char *host = argv[1];
  in_port_t port = (in_port_t)atoi(argv[2]);
  int at = 3;
  int exceptions = 0;
  if (strcmp(argv[at], "--exceptions") == 0)
  {
    exceptions = 1;
    at++;
  }
  if (at >= argc) return usage();
  const char *mode = argv[at++];

  if (gearman_client_create(&client) == NULL) return 1;
  gearman_client_add_server(&client, host, port);
  if (exceptions) gearman_client_add_options(&client, GEARMAN_CLIENT_EXCEPTION);

  gearman_return_t ret;
  if (strcmp(mode, "events") == 0 && argc - at == 2)
  {
    gearman_client_set_created_fn(&client, on_created);
    gearman_client_set_data_fn(&client, on_data);
    gearman_client_set_warning_fn(&client, on_warning);
    gearman_client_set_status_fn(&client, on_status);
    gearman_client_set_complete_fn(&client, on_complete);
    gearman_client_set_fail_fn(&client, on_fail);
    gearman_client_set_exception_fn(&client, on_exception);
    if (gearman_client_add_task(&client, NULL, NULL, argv[at], NULL, argv[at + 1], strlen(argv[at + 1]), &ret) != NULL)
      ret = gearman_client_run_tasks(&client);
  }
  else if ((strcmp(mode, "many") == 0 || strcmp(mode, "bg") == 0) && argc - at == 3)
  {
    int background = strcmp(mode, "bg") == 0;
    if (!background)
    {
      gearman_client_set_complete_fn(&client, on_complete);
      gearman_client_set_fail_fn(&client, on_fail);
    }
    ret = add_tasks(argv[at], atoi(argv[at + 1]), argv[at + 2], background);
    if (gearman_success(ret)) ret = gearman_client_run_tasks(&client);
  }
  else
  {
    gearman_client_free(&client);
    return usage();
  }

  print_ret(ret);
  gearman_client_free(&client);
  return 0;
}
