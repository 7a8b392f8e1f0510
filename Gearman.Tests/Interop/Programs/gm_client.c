/*
 * A libgearman client for the interop tests. It prints one line per event on stdout (flushed at once) so that
 * the tests can assert order and content:
 *
 *   gm_client HOST PORT [--exceptions] [--timeout MS] MODE ARGS...
 *
 *   do F DATA             gearman_client_do: "result <bytes>" (all WORK_DATA then the WORK_COMPLETE payload), "ret <code>"
 *   tasks F DATA...       one foreground add_task per DATA, then run_tasks; callbacks print
 *                         "<i> created|data|warning|status|complete|fail|exception ...", then "ret <code>"
 *   bg F DATA             gearman_client_do_background: "handle <H>", "ret <code>"
 *   status H              gearman_client_job_status: "known=K running=R numerator=N denominator=D", "ret <code>"
 *   unique F UNIQ DATA    one foreground task with the given unique, with the callbacks of "tasks" (for coalescing tests
 *                         run two processes: libgearman 1.1.20 delivers a shared handle's result to only one task
 *                         of a client, so two tasks in one client would hang)
 *   submit_bg F P:DATA... background tasks in argument order, P is H, N or L (priority): "<i> created <H>", "ret <code>"
 *   epoch F SECONDS DATA  a background job not to run before now+SECONDS (SUBMIT_JOB_EPOCH):
 *                         "scheduled <unix time>", "handle <H>", "ret <code>"
 *
 * Exit status: 0 when the program ran (the return code is printed, not used as exit status), 2 on usage errors.
 */
#include <libgearman-1.0/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static gearman_client_st client;

static void print_bytes(const char *prefix, const void *data, size_t size)
{
  printf("%s", prefix);
  fwrite(data, 1, size, stdout);
  printf("\n");
  fflush(stdout);
}

static int task_index(gearman_task_st *task)
{
  return (int)(intptr_t)gearman_task_context(task);
}

static gearman_return_t on_created(gearman_task_st *task)
{
  printf("%d created %s\n", task_index(task), gearman_task_job_handle(task));
  fflush(stdout);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_data(gearman_task_st *task)
{
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%d data ", task_index(task));
  print_bytes(prefix, gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_warning(gearman_task_st *task)
{
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%d warning ", task_index(task));
  print_bytes(prefix, gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_status(gearman_task_st *task)
{
  printf("%d status %u/%u\n", task_index(task), gearman_task_numerator(task), gearman_task_denominator(task));
  fflush(stdout);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_complete(gearman_task_st *task)
{
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%d complete %s ", task_index(task), gearman_task_job_handle(task));
  print_bytes(prefix, gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_fail(gearman_task_st *task)
{
  printf("%d fail %s\n", task_index(task), gearman_task_job_handle(task));
  fflush(stdout);
  return GEARMAN_SUCCESS;
}

static gearman_return_t on_exception(gearman_task_st *task)
{
  char prefix[32];
  snprintf(prefix, sizeof prefix, "%d exception ", task_index(task));
  gearman_string_t e = gearman_task_exception(task);
  if (gearman_size(e) > 0)
    print_bytes(prefix, gearman_c_str(e), gearman_size(e));
  else
    print_bytes(prefix, gearman_task_data(task), gearman_task_data_size(task));
  return GEARMAN_SUCCESS;
}

static void set_callbacks(void)
{
  gearman_client_set_created_fn(&client, on_created);
  gearman_client_set_data_fn(&client, on_data);
  gearman_client_set_warning_fn(&client, on_warning);
  gearman_client_set_status_fn(&client, on_status);
  gearman_client_set_complete_fn(&client, on_complete);
  gearman_client_set_fail_fn(&client, on_fail);
  gearman_client_set_exception_fn(&client, on_exception);
}

static void print_ret(gearman_return_t ret)
{
  printf("ret %s\n", gearman_strerror(ret));
  fflush(stdout);
}

static int usage(void)
{
  fprintf(stderr, "usage: gm_client HOST PORT [--exceptions] [--timeout MS] MODE ARGS...\n");
  return 2;
}

static int mode_do(int argc, char **argv)
{
  if (argc != 2) return usage();
  size_t size = 0;
  gearman_return_t ret;
  void *result = gearman_client_do(&client, argv[0], NULL, argv[1], strlen(argv[1]), &size, &ret);
  if (result != NULL)
  {
    print_bytes("result ", result, size);
    free(result);
  }
  print_ret(ret);
  return 0;
}

static int mode_tasks(int argc, char **argv)
{
  if (argc < 2) return usage();
  set_callbacks();
  for (int i = 1; i < argc; i++)
  {
    gearman_return_t ret;
    if (gearman_client_add_task(&client, NULL, (void *)(intptr_t)i, argv[0], NULL, argv[i], strlen(argv[i]), &ret) == NULL)
    {
      print_ret(ret);
      return 0;
    }
  }
  print_ret(gearman_client_run_tasks(&client));
  return 0;
}

static int mode_bg(int argc, char **argv)
{
  if (argc != 2) return usage();
  char handle[GEARMAN_JOB_HANDLE_SIZE];
  gearman_return_t ret = gearman_client_do_background(&client, argv[0], NULL, argv[1], strlen(argv[1]), handle);
  if (gearman_success(ret)) printf("handle %s\n", handle);
  print_ret(ret);
  return 0;
}

static int mode_status(int argc, char **argv)
{
  if (argc != 1) return usage();
  bool known = false, running = false;
  uint32_t numerator = 0, denominator = 0;
  gearman_return_t ret = gearman_client_job_status(&client, argv[0], &known, &running, &numerator, &denominator);
  printf("known=%d running=%d numerator=%u denominator=%u\n", known ? 1 : 0, running ? 1 : 0, numerator, denominator);
  print_ret(ret);
  return 0;
}

static int mode_unique(int argc, char **argv)
{
  if (argc != 3) return usage();
  set_callbacks();
  gearman_return_t ret;
  if (gearman_client_add_task(&client, NULL, (void *)(intptr_t)1, argv[0], argv[1], argv[2], strlen(argv[2]), &ret) == NULL)
  {
    print_ret(ret);
    return 0;
  }
  print_ret(gearman_client_run_tasks(&client));
  return 0;
}

static int mode_submit_bg(int argc, char **argv)
{
  if (argc < 2) return usage();
  gearman_client_set_created_fn(&client, on_created);
  for (int i = 1; i < argc; i++)
  {
    const char *arg = argv[i];
    if (strlen(arg) < 2 || arg[1] != ':') return usage();
    const char *data = arg + 2;
    gearman_return_t ret;
    gearman_task_st *task;
    switch (arg[0])
    {
    case 'H': task = gearman_client_add_task_high_background(&client, NULL, (void *)(intptr_t)i, argv[0], NULL, data, strlen(data), &ret); break;
    case 'N': task = gearman_client_add_task_background(&client, NULL, (void *)(intptr_t)i, argv[0], NULL, data, strlen(data), &ret); break;
    case 'L': task = gearman_client_add_task_low_background(&client, NULL, (void *)(intptr_t)i, argv[0], NULL, data, strlen(data), &ret); break;
    default: return usage();
    }
    if (task == NULL)
    {
      print_ret(ret);
      return 0;
    }
    /* One run per task keeps the submission order on the wire (1.1.20 prepends tasks to its list, spec §4.3). */
    ret = gearman_client_run_tasks(&client);
    if (!gearman_success(ret))
    {
      print_ret(ret);
      return 0;
    }
  }
  print_ret(GEARMAN_SUCCESS);
  return 0;
}

static int mode_epoch(int argc, char **argv)
{
  if (argc != 3) return usage();
  time_t when = time(NULL) + atoi(argv[1]);
  printf("scheduled %lld\n", (long long)when);
  fflush(stdout);
  gearman_task_attr_t attr = gearman_task_attr_init_epoch(when, GEARMAN_JOB_PRIORITY_NORMAL);
  gearman_argument_t arg = gearman_argument_make(NULL, 0, argv[2], strlen(argv[2]));
  gearman_task_st *task = gearman_execute(&client, argv[0], strlen(argv[0]), NULL, 0, &attr, &arg, NULL);
  if (task == NULL)
  {
    print_ret(gearman_client_errno(&client) ? GEARMAN_ERRNO : GEARMAN_UNKNOWN_STATE);
    fprintf(stderr, "%s\n", gearman_client_error(&client));
    return 0;
  }
  printf("handle %s\n", gearman_task_job_handle(task));
  print_ret(gearman_task_return(task));
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 4) return usage();
  if (gearman_client_create(&client) == NULL) return 3;
  if (!gearman_success(gearman_client_add_server(&client, argv[1], (in_port_t)atoi(argv[2])))) return 3;

  int at = 3;
  while (at < argc && strncmp(argv[at], "--", 2) == 0)
  {
    if (strcmp(argv[at], "--exceptions") == 0)
    {
      gearman_client_add_options(&client, GEARMAN_CLIENT_EXCEPTION);
      at++;
    }
    else if (strcmp(argv[at], "--timeout") == 0 && at + 1 < argc)
    {
      gearman_client_set_timeout(&client, atoi(argv[at + 1]));
      at += 2;
    }
    else
      return usage();
  }
  if (at >= argc) return usage();

  const char *mode = argv[at];
  int rest = argc - at - 1;
  char **args = argv + at + 1;
  int rc;
  if (strcmp(mode, "do") == 0) rc = mode_do(rest, args);
  else if (strcmp(mode, "tasks") == 0) rc = mode_tasks(rest, args);
  else if (strcmp(mode, "bg") == 0) rc = mode_bg(rest, args);
  else if (strcmp(mode, "status") == 0) rc = mode_status(rest, args);
  else if (strcmp(mode, "unique") == 0) rc = mode_unique(rest, args);
  else if (strcmp(mode, "submit_bg") == 0) rc = mode_submit_bg(rest, args);
  else if (strcmp(mode, "epoch") == 0) rc = mode_epoch(rest, args);
  else rc = usage();

  gearman_client_free(&client);
  return rc;
}
