/*
 * A libgearman worker for the map-reduce ("partition") interop tests (Interop/MapReduce/), with the functions of
 * gearmand's partition tests (spec §4.4). One function per process, because a map job's reducer jobs need other
 * workers while the mapper's worker waits for them:
 *
 *   partition_worker HOST PORT split NAME    split_worker with cat_aggregator_fn (gearman_function_create_partition):
 *                                            one send_data per word (split on spaces and NULs); the word
 *                                            "mapper_fail" sends the exception "Error occurred on purpose"
 *   partition_worker HOST PORT echo NAME     echo_or_react_worker_v2: send_data(workload); GEARMAN_FAIL for "fail";
 *                                            SUCCESS for an empty workload
 *   partition_worker HOST PORT count NAME    count: the workload's length in decimal
 *
 * Each job prints "job <NAME> <workload>" on stdout before it runs. The worker runs until it is killed.
 * Exit status: 2 on usage errors, 1 when the worker stopped with an error (printed on stderr).
 */
#include <libgearman-1.0/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_job(gearman_job_st *job)
{
  printf("job %s ", gearman_job_function_name(job));
  fwrite(gearman_job_workload(job), 1, gearman_job_workload_size(job), stdout);
  fputc('\n', stdout);
  fflush(stdout);
}

static int is_mapper_fail(const char *begin, size_t size)
{
  return size == strlen("mapper_fail") && memcmp(begin, "mapper_fail", size) == 0;
}

static gearman_return_t split_worker(gearman_job_st *job, void *context)
{
  (void)context;
  print_job(job);
  const char *workload = gearman_job_workload(job);
  size_t size = gearman_job_workload_size(job);
  const char *begin = workload;
  for (size_t x = 0; x < size; x++)
  {
    if (workload[x] == 0 || workload[x] == ' ')
    {
      size_t length = (size_t)(workload + x - begin);
      if (is_mapper_fail(begin, length))
        return gearman_job_send_exception(job, "Error occurred on purpose", strlen("Error occurred on purpose"));
      if (length > 0 && gearman_failed(gearman_job_send_data(job, begin, length)))
        return gearman_job_send_exception(job, "gearman_job_send_data() failed", strlen("gearman_job_send_data() failed"));
      begin = workload + x + 1;
    }
  }

  if (begin < workload + size)
  {
    size_t length = (size_t)(workload + size - begin);
    if (is_mapper_fail(begin, length))
      return gearman_job_send_exception(job, "Error occurred on purpose", strlen("Error occurred on purpose"));
    if (gearman_failed(gearman_job_send_data(job, begin, length)))
      return gearman_job_send_exception(job, "gearman_job_send_data() failed", strlen("gearman_job_send_data() failed"));
  }

  return GEARMAN_SUCCESS;
}

/* Concatenates the reducer results in task-list order; a result of size 0 "fails" (the return is ignored). */
static gearman_return_t cat_aggregator_fn(gearman_aggregator_st *aggregator, gearman_task_st *task, gearman_result_st *result)
{
  (void)aggregator;
  size_t capacity = 256, length = 0;
  char *value = malloc(capacity);
  for (; task != NULL; task = gearman_next(task))
  {
    gearman_result_st *r = gearman_task_result(task);
    if (r == NULL) continue;
    if (gearman_result_size(r) == 0)
    {
      free(value);
      return GEARMAN_WORK_EXCEPTION;
    }
    while (length + gearman_result_size(r) > capacity) value = realloc(value, capacity *= 2);
    memcpy(value + length, gearman_result_value(r), gearman_result_size(r));
    length += gearman_result_size(r);
  }

  gearman_result_store_value(result, value, length);
  free(value);
  return GEARMAN_SUCCESS;
}

static gearman_return_t echo_or_react_worker_v2(gearman_job_st *job, void *context)
{
  (void)context;
  print_job(job);
  const void *workload = gearman_job_workload(job);
  size_t size = gearman_job_workload_size(job);
  if (workload == NULL || size == 0) return GEARMAN_SUCCESS;
  if (size == strlen("fail") && memcmp(workload, "fail", size) == 0) return GEARMAN_FAIL;
  if (gearman_failed(gearman_job_send_data(job, workload, size))) return GEARMAN_ERROR;
  return GEARMAN_SUCCESS;
}

static gearman_return_t count_worker(gearman_job_st *job, void *context)
{
  (void)context;
  print_job(job);
  char buffer[32];
  int length = snprintf(buffer, sizeof buffer, "%zu", gearman_job_workload_size(job));
  if (gearman_failed(gearman_job_send_data(job, buffer, (size_t)length))) return GEARMAN_ERROR;
  return GEARMAN_SUCCESS;
}

int main(int argc, char **argv)
{
  if (argc != 5)
  {
    fprintf(stderr, "usage: partition_worker HOST PORT split|echo|count NAME\n");
    return 2;
  }

  const char *role = argv[3];
  const char *name = argv[4];
  if (strcmp(role, "split") != 0 && strcmp(role, "echo") != 0 && strcmp(role, "count") != 0)
  {
    fprintf(stderr, "unknown role %s\n", role);
    return 2;
  }

  /* gearman_function_t has const members: initialise it in one expression. */
  gearman_function_t function = strcmp(role, "split") == 0 ? gearman_function_create_partition(split_worker, cat_aggregator_fn)
                                : strcmp(role, "echo") == 0 ? gearman_function_create_v2(echo_or_react_worker_v2)
                                : gearman_function_create_v2(count_worker);

  gearman_worker_st worker;
  if (gearman_worker_create(&worker) == NULL) return 1;
  gearman_worker_add_server(&worker, argv[1], (in_port_t)atoi(argv[2]));
  gearman_worker_add_options(&worker, GEARMAN_WORKER_GRAB_ALL);
  if (gearman_failed(gearman_worker_define_function(&worker, name, strlen(name), function, 0, NULL)))
  {
    fprintf(stderr, "define_function: %s\n", gearman_worker_error(&worker));
    return 1;
  }

  while (1)
  {
    gearman_return_t ret = gearman_worker_work(&worker);
    if (ret != GEARMAN_SUCCESS && ret != GEARMAN_WORK_FAIL && ret != GEARMAN_FAIL && ret != GEARMAN_ERROR
        && ret != GEARMAN_WORK_EXCEPTION && ret != GEARMAN_IO_WAIT && ret != GEARMAN_NO_JOBS && ret != GEARMAN_LOST_CONNECTION)
    {
      fprintf(stderr, "work: %s: %s\n", gearman_strerror(ret), gearman_worker_error(&worker));
      fflush(stderr);
    }
  }
}
