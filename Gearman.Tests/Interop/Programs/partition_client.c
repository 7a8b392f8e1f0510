/*
 * A libgearman client for the map-reduce ("partition") interop tests (Interop/MapReduce/), reproducing the calls of
 * gearmand's tests/libgearman-1.0/gearman_execute_partition.cc (spec §4.4). Output lines on stdout:
 *
 *   partition_client HOST PORT partition MAPPER REDUCER DATA
 *       gearman_execute_by_partition(MAPPER, REDUCER, DATA): "ret <code>", then "result <bytes>" or "result NULL";
 *       "null <error>" when the call returned no task
 *   partition_client HOST PORT execute F DATA
 *       gearman_execute(F, DATA) as a plain job: the same lines
 *   partition_client HOST PORT check MAPPER REDUCER
 *       the argument checks: "null-client <task|NULL>", then "no-mapper <task|NULL>"
 *
 * The client echoes first (as the gearmand tests do), so a server that is not there shows up as "echo <code>".
 * Exit status: 0 when the program ran (the outcome is printed), 1 when the echo failed, 2 on usage errors.
 */
#include <libgearman-1.0/gearman.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_task(gearman_client_st *client, gearman_task_st *task)
{
  if (task == NULL)
  {
    printf("null %s\n", gearman_client_error(client));
    return;
  }

  printf("ret %s\n", gearman_strerror(gearman_task_return(task)));
  gearman_result_st *result = gearman_task_result(task);
  if (result == NULL)
  {
    printf("result NULL\n");
  }
  else
  {
    fputs("result ", stdout);
    fwrite(gearman_result_value(result), 1, gearman_result_size(result), stdout);
    fputc('\n', stdout);
  }
  gearman_task_free(task);
}

static int usage(void)
{
  fprintf(stderr, "usage: partition_client HOST PORT partition MAPPER REDUCER DATA | execute F DATA | check MAPPER REDUCER\n");
  return 2;
}

int main(int argc, char **argv)
{
  if (argc < 4) return usage();
  const char *mode = argv[3];

  gearman_client_st client;
  if (gearman_client_create(&client) == NULL) return 1;
  gearman_client_add_server(&client, argv[1], (in_port_t)atoi(argv[2]));

  gearman_return_t ret = gearman_client_echo(&client, "this is mine", strlen("this is mine"));
  if (ret != GEARMAN_SUCCESS)
  {
    printf("echo %s\n", gearman_strerror(ret));
    gearman_client_free(&client);
    return 1;
  }

  if (strcmp(mode, "partition") == 0 && argc == 7)
  {
    gearman_argument_t workload = gearman_argument_make(NULL, 0, argv[6], strlen(argv[6]));
    print_task(&client, gearman_execute_by_partition(&client, argv[4], strlen(argv[4]), argv[5], strlen(argv[5]),
                                                     NULL, 0, NULL, &workload, NULL));
  }
  else if (strcmp(mode, "execute") == 0 && argc == 6)
  {
    gearman_argument_t workload = gearman_argument_make(NULL, 0, argv[5], strlen(argv[5]));
    print_task(&client, gearman_execute(&client, argv[4], strlen(argv[4]), NULL, 0, NULL, &workload, NULL));
  }
  else if (strcmp(mode, "check") == 0 && argc == 6)
  {
    gearman_argument_t workload = gearman_argument_make(NULL, 0, "this dog does not hunt", strlen("this dog does not hunt"));
    gearman_task_st *task = gearman_execute_by_partition(NULL, argv[4], strlen(argv[4]), argv[5], strlen(argv[5]),
                                                         NULL, 0, NULL, &workload, NULL);
    printf("null-client %s\n", task == NULL ? "NULL" : "task");
    task = gearman_execute_by_partition(&client, NULL, 0, NULL, 0, NULL, 0, NULL, &workload, NULL);
    printf("no-mapper %s\n", task == NULL ? "NULL" : "task");
  }
  else
  {
    gearman_client_free(&client);
    return usage();
  }

  fflush(stdout);
  gearman_client_free(&client);
  return 0;
}
