/*  =========================================================================
    test_llm_concurrency - one worker keeps many LLM calls in flight

    With the mock answering after 1 s and 64 tasks queued for one worker,
    the mock sees at least 32 calls at once (the default cap).
    =========================================================================
*/

#include "testutil.h"

#define TASKS 64
#define EXPECTED_IN_FLIGHT 32

int
main (void)
{
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    char *mock_dir =
        zsys_sprintf ("%s/llm-concurrency-mock.%d", cwd, (int) getpid ());
    pid_t mock_pid;
    char *mock = th_mock_start (mock_dir, 1000, "", &mock_pid);
    char *url_arg = zsys_sprintf ("worker:--llm-url=%s", mock);
    const char *worker_args [] = {url_arg, NULL};
    th_harness_t *harness = th_harness_new ("llm_concurrency", 1, worker_args);
    char *task_ids [TASKS];
    for (int task_nbr = 0; task_nbr < TASKS; task_nbr++) {
        char *body = zsys_sprintf (
            "{\"form\": {\"fields\": [\"Code\"]}, \"file_lib\": "
            "{\"documents\": [{\"id\": \"d\", \"kv\": {\"Code\": \"%d\"}}]}}",
            task_nbr);
        task_ids [task_nbr] = th_submit (harness, "form_filling", body);
        zstr_free (&body);
    }
    for (int task_nbr = 0; task_nbr < TASKS; task_nbr++) {
        json_t *status =
            th_wait_completed (harness, task_ids [task_nbr], 60000);
        json_t *code = json_object_get (
            json_object_get (
                json_object_get (json_object_get (status, "result"), "fields"),
                "Code"),
            "value");
        char expected [16];
        snprintf (expected, sizeof (expected), "%d", task_nbr);
        TH_CHECK (streq (json_string_value (code), expected),
                  "task %d got its own answer", task_nbr);
        json_decref (status);
        zstr_free (&task_ids [task_nbr]);
    }
    json_t *stats = th_mock_stats (mock);
    json_int_t peak =
        json_integer_value (json_object_get (stats, "max_concurrent"));
    TH_CHECK (peak >= EXPECTED_IN_FLIGHT, "peak in flight %d < %d", (int) peak,
              EXPECTED_IN_FLIGHT);
    TH_CHECK (json_integer_value (json_object_get (stats, "total")) == TASKS,
              "one call per task");
    printf ("test_llm_concurrency: peak %d calls in flight\n", (int) peak);
    json_decref (stats);
    th_harness_destroy (&harness);
    th_mock_stop (mock_pid);
    zstr_free (&url_arg);
    zstr_free (&mock);
    zstr_free (&mock_dir);
    printf ("test_llm_concurrency: OK\n");
    return 0;
}
