/*  =========================================================================
    test_llm - LLM extraction through a real worker and the mock LLM

    All three task types complete through the LLM and validate against
    docs/RESULTS.md; each fault of the mock leads to the expected number
    of attempts (counted by the mock, not timed) and the expected final
    status and error code; the API key never reaches a log.
    =========================================================================
*/

#include "testutil.h"

#define API_KEY "sk-test-7c1e0d5b-never-log-me"
#define TASK_TIMEOUT_MS 60000

static th_harness_t *s_harness;
static char *s_mock;

//  Submit a form filling task whose library text carries a mock marker
static char *
s_submit_marked (const char *marker)
{
    char *body = zsys_sprintf (
        "{\"form\": {\"fields\": [\"Full Name\"]}, \"file_lib\": "
        "{\"documents\": [{\"id\": \"doc\", \"text\": \"Full Name: Maria "
        "Lopez\\nNote: MOCK:%s\"}]}}",
        marker);
    char *task_id = th_submit (s_harness, "form_filling", body);
    zstr_free (&body);
    return task_id;
}

typedef struct {
    const char *marker;  //  mock marker
    const char *status;  //  expected final status
    const char *code;    //  expected error code, or NULL
    int requests;        //  expected requests seen by the mock
    char *task_id;       //  the task
} fault_case_t;

int
main (void)
{
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    char *mock_dir = zsys_sprintf ("%s/llm-mock.%d", cwd, (int) getpid ());
    pid_t mock_pid;
    s_mock = th_mock_start (mock_dir, 0, API_KEY, &mock_pid);
    char *url_arg = zsys_sprintf ("worker:--llm-url=%s", s_mock);
    const char *worker_args [] = {url_arg,
                                  "worker:--llm-api-key=" API_KEY,
                                  "worker:--llm-model=mock-1",
                                  "worker:--llm-retries=2",
                                  "worker:--llm-timeout=1500",
                                  "worker:--verbose",
                                  NULL};
    s_harness = th_harness_new ("llm", 1, worker_args);

    //  1. The three task types through the LLM
    const char *pages [] = {"invoice.png", NULL};
    char *body = th_images_body (pages, NULL);
    char *document_id = th_submit (s_harness, "document", body);
    zstr_free (&body);
    const char *form_pages [] = {"form.png", NULL};
    body = th_images_body (form_pages, NULL);
    char *form_id = th_submit (s_harness, "form", body);
    zstr_free (&body);
    char *filling_id = th_submit (
        s_harness, "form_filling",
        "{\"form\": {\"fields\": [\"Full Name\", \"Shoe size\"]}, "
        "\"file_lib\": {\"documents\": [{\"id\": \"passport\", \"kv\": "
        "{\"Full Name\": \"Maria Lopez\"}}]}}");

    json_t *status =
        th_wait_completed (s_harness, document_id, TASK_TIMEOUT_MS);
    json_t *result = json_object_get (status, "result");
    th_check_result ("document", result);
    TH_CHECK (streq (json_string_value (json_object_get (result, "extractor")),
                     "llm"),
              "extractor llm");
    TH_CHECK (
        streq (json_string_value (json_object_get (result, "model")), "mock-1"),
        "model");
    TH_CHECK (
        strlen (json_string_value (json_object_get (result, "prompt_hash")))
            == 16,
        "prompt hash");
    TH_CHECK (streq (json_string_value (json_object_get (
                         json_object_get (result, "kv"), "Invoice Number")),
                     "INV-2041"),
              "kv via LLM");
    TH_CHECK (strstr (json_string_value (json_object_get (
                          json_array_get (json_object_get (result, "pages"), 0),
                          "text")),
                      "INVOICE"),
              "pages kept from OCR");
    json_decref (status);

    status = th_wait_completed (s_harness, form_id, TASK_TIMEOUT_MS);
    th_check_result ("form", json_object_get (status, "result"));
    char *dump = json_dumps (
        json_object_get (json_object_get (status, "result"), "fields"),
        JSON_COMPACT);
    TH_CHECK (strstr (dump, "Full Name"), "form fields via LLM: %s", dump);
    zstr_free (&dump);
    json_decref (status);

    status = th_wait_completed (s_harness, filling_id, TASK_TIMEOUT_MS);
    result = json_object_get (status, "result");
    th_check_result ("form_filling", result);
    json_t *name =
        json_object_get (json_object_get (result, "fields"), "Full Name");
    TH_CHECK (streq (json_string_value (json_object_get (name, "value")),
                     "Maria Lopez"),
              "filled value");
    TH_CHECK (
        json_is_null (json_object_get (
            json_object_get (json_object_get (result, "fields"), "Shoe size"),
            "value")),
        "unknown is null");
    json_decref (status);

    //  2. Faults: attempts counted by the mock, final status and code
    fault_case_t cases [] = {
        {"500x2#a", "completed", NULL, 3, NULL},
        {"503#b", "error", "LLM_HTTP_503", 3, NULL},
        {"429x1#c", "completed", NULL, 2, NULL},
        {"cutx1#d", "completed", NULL, 2, NULL},
        {"garbage#e", "error", "LLM_BAD_OUTPUT", 3, NULL},
        {"badschema#f", "error", "LLM_BAD_OUTPUT", 2, NULL},
        {"badschemax1#g", "completed", NULL, 2, NULL},
        {"fenced#h", "completed", NULL, 1, NULL},
        {"think#i", "completed", NULL, 1, NULL},
        {"prose#j", "error", "LLM_BAD_OUTPUT", 2, NULL},
        {"400#k", "error", "LLM_HTTP_400", 1, NULL},
        {"401#l", "error", "LLM_HTTP_401", 1, NULL},
        {"slow=4000#m", "error", "LLM_TIMEOUT", 3, NULL},
        {"noschema#n", "completed", NULL, 2, NULL},
        {"nested#o", "completed", NULL, 1, NULL},
    };
    size_t count = sizeof (cases) / sizeof (cases [0]);
    for (size_t case_nbr = 0; case_nbr < count; case_nbr++)
        cases [case_nbr].task_id = s_submit_marked (cases [case_nbr].marker);
    for (size_t case_nbr = 0; case_nbr < count; case_nbr++) {
        fault_case_t *fault = &cases [case_nbr];
        status = th_wait_terminal (s_harness, fault->task_id, TASK_TIMEOUT_MS);
        TH_CHECK (status, "%s: no end", fault->marker);
        dump = json_dumps (status, JSON_COMPACT);
        TH_CHECK (streq (json_string_value (json_object_get (status, "status")),
                         fault->status),
                  "%s: %s", fault->marker, dump);
        if (fault->code) {
            json_t *error = json_object_get (status, "error");
            TH_CHECK (
                streq (json_string_value (json_object_get (error, "code")),
                       fault->code),
                "%s: %s", fault->marker, dump);
            TH_CHECK (
                strlen (json_string_value (json_object_get (error, "message")))
                    > 10,
                "%s: message", fault->marker);
        }
        else
            th_check_result ("form_filling",
                             json_object_get (status, "result"));
        zstr_free (&dump);
        json_decref (status);
    }
    json_t *stats = th_mock_stats (s_mock);
    json_t *markers = json_object_get (stats, "markers");
    for (size_t case_nbr = 0; case_nbr < count; case_nbr++) {
        fault_case_t *fault = &cases [case_nbr];
        json_int_t seen =
            json_integer_value (json_object_get (markers, fault->marker));
        TH_CHECK (seen == fault->requests,
                  "%s: mock saw %d requests, "
                  "expected %d",
                  fault->marker, (int) seen, fault->requests);
        zstr_free (&fault->task_id);
    }
    TH_CHECK (json_integer_value (json_object_get (stats, "unauthorized")) == 0,
              "the key was sent on every request");
    json_decref (stats);

    //  3. The API key is in no log
    th_harness_destroy (&s_harness);
    const char *logs [] = {"worker-1.log", "gateway.log", "sink.log",
                           "ventilator.log", NULL};
    for (const char **log = logs; *log; log++) {
        char *path = zsys_sprintf ("%s/llm.%d/%s", cwd, (int) getpid (), *log);
        TH_CHECK (!th_file_contains (path, API_KEY), "key in %s", path);
        TH_CHECK (!th_file_contains (path, "Bearer"), "Bearer in %s", path);
        zstr_free (&path);
    }
    char *worker_log =
        zsys_sprintf ("%s/llm.%d/worker-1.log", cwd, (int) getpid ());
    TH_CHECK (th_file_contains (worker_log, "LLM-REPAIR"),
              "the repair was logged");
    zstr_free (&worker_log);

    th_mock_stop (mock_pid);
    zstr_free (&document_id);
    zstr_free (&form_id);
    zstr_free (&filling_id);
    zstr_free (&url_arg);
    zstr_free (&s_mock);
    zstr_free (&mock_dir);
    printf ("test_llm: OK\n");
    return 0;
}
