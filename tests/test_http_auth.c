/*  =========================================================================
    test_http_auth - http-api-key on the real binaries

    A gateway given two keys answers /api/ requests without one of them
    401 UNAUTHORIZED with WWW-Authenticate, before it reads a body, and
    stores nothing for them; either key works for submitting, reading and
    cancelling; /healthz needs none; the keys never reach the log;
    `docusnap status` sends the key it is given; a gateway given a
    malformed key does not start, and says why.
    =========================================================================
*/

#include "testutil.h"

#define KEY_ONE "k1-7c4a9f0e2b"
#define KEY_TWO "k2-93d1e6a870"

static const char *s_filling =
    "{\"form\": {\"fields\": [\"Name\"]}, \"file_lib\": {\"documents\": "
    "[{\"id\": \"d\", \"text\": \"Name: Ada\"}]}}";

//  libcurl's callback for headers and body alike: into a chunk
static size_t
s_collect (char *data, size_t size, size_t count, void *arg)
{
    zchunk_extend ((zchunk_t *) arg, data, size * count);
    return size * count;
}

//  One request with an Authorization header (NULL: none). Returns the
//  HTTP status; sets *code to the error code ("" if none), *task_id to
//  the task id of a 202 (NULL if none), *challenged if the answer had a
//  WWW-Authenticate header.
static long
s_request (const char *method,
           const char *url,
           const char *authorization,
           const char *body,
           char **code,
           char **task_id,
           bool *challenged)
{
    CURL *curl = curl_easy_init ();
    zchunk_t *headers_in = zchunk_new (NULL, 1024);
    zchunk_t *body_in = zchunk_new (NULL, 1024);
    struct curl_slist *headers =
        curl_slist_append (NULL, "Content-Type: application/json");
    headers = curl_slist_append (headers, "Expect:");
    if (authorization)
        headers = curl_slist_append (headers, authorization);
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    if (body)
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_HEADERDATA, headers_in);
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_collect);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, body_in);
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 30L);
    long status = 0;
    TH_CHECK (curl_easy_perform (curl) == CURLE_OK, "%s %s", method, url);
    curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    char *header_text = zchunk_strdup (headers_in);
    *challenged = strstr (header_text, "WWW-Authenticate: Bearer") != NULL;
    json_t *json = json_loadb ((const char *) zchunk_data (body_in),
                               zchunk_size (body_in), 0, NULL);
    const char *error = json_string_value (
        json_object_get (json_object_get (json, "error"), "code"));
    *code = strdup (error ? error : "");
    const char *id = json_string_value (json_object_get (json, "task_id"));
    *task_id = status == 202 && id ? strdup (id) : NULL;
    json_decref (json);
    zstr_free (&header_text);
    zchunk_destroy (&headers_in);
    zchunk_destroy (&body_in);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return status;
}

//  Expect 401 UNAUTHORIZED with a challenge
static void
s_refused (const char *method,
           const char *url,
           const char *authorization,
           const char *body)
{
    char *code, *task_id;
    bool challenged;
    long status = s_request (method, url, authorization, body, &code, &task_id,
                             &challenged);
    TH_CHECK (status == 401 && streq (code, "UNAUTHORIZED") && challenged
                  && !task_id,
              "%s %s with '%s': %ld %s", method, url,
              authorization ? authorization : "no key", status, code);
    zstr_free (&code);
}

//  Run a command; returns its exit status
static int
s_system (const char *command)
{
    int status = system (command);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

int
main (void)
{
    //  Verbose: the gateway logs its configuration, which must not show
    //  the keys
    const char *args [] = {"gateway:--http-api-key= " KEY_ONE ", " KEY_TWO,
                           "gateway:--verbose", NULL};
    th_harness_t *harness = th_harness_new ("http_auth", 0, args);
    const char *base = th_harness_url (harness);
    char *submit = zsys_sprintf ("%s/api/process_form_filling", base);

    //  Without a key, with a wrong one, with a malformed header: 401,
    //  before the body is read, and nothing is stored
    s_refused ("POST", submit, NULL, s_filling);
    s_refused ("POST", submit, "Authorization: Bearer k1-7c4a9f0e2", s_filling);
    s_refused ("POST", submit, "Authorization: Bearer " KEY_ONE "x", s_filling);
    s_refused ("POST", submit, "Authorization: Basic " KEY_ONE, s_filling);
    s_refused ("POST", submit, "Authorization: Bearer", s_filling);
    s_refused ("POST", submit, "Authorization: Bearer " KEY_ONE ", " KEY_TWO,
               s_filling);
    ds_store_t *store = ds_store_new (th_harness_db (harness));
    TH_CHECK (ds_store_count (store, NULL) == 0, "nothing stored");

    //  Either key: submit with one, read and cancel with the other
    char *code, *task_id;
    bool challenged;
    long status = s_request ("POST", submit, "Authorization: Bearer " KEY_ONE,
                             s_filling, &code, &task_id, &challenged);
    TH_CHECK (status == 202 && task_id, "submit with key one: %ld %s", status,
              code);
    zstr_free (&code);
    TH_CHECK (ds_store_count (store, NULL) == 1, "one task stored");
    ds_store_destroy (&store);
    char *read = zsys_sprintf ("%s/api/task_status/%s", base, task_id);
    char *cancel = zsys_sprintf ("%s/api/tasks/%s", base, task_id);
    s_refused ("GET", read, NULL, NULL);
    s_refused ("DELETE", cancel, "Authorization: Bearer nope", NULL);
    char *other_id;
    status = s_request ("GET", read, "authorization: bearer " KEY_TWO, NULL,
                        &code, &other_id, &challenged);
    TH_CHECK (status == 200, "read with key two (any case): %ld %s", status,
              code);
    zstr_free (&code);
    status = s_request ("DELETE", cancel, "Authorization: Bearer " KEY_TWO,
                        NULL, &code, &other_id, &challenged);
    TH_CHECK (status == 200, "cancel with key two: %ld %s", status, code);
    zstr_free (&code);

    //  Liveness needs no key
    char *health = zsys_sprintf ("%s/healthz", base);
    status =
        s_request ("GET", health, NULL, NULL, &code, &other_id, &challenged);
    TH_CHECK (status == 200, "healthz without a key: %ld", status);
    zstr_free (&code);

    //  docusnap status sends the first key it is given, from the
    //  environment; without it the gateway refuses
    const char *bin_dir = getenv ("DS_BIN_DIR");
    char *command = zsys_sprintf ("DOCUSNAP_HTTP_API_KEY='" KEY_ONE
                                  ",other' %s/docusnap status --url "
                                  "%s %s >/dev/null",
                                  bin_dir ? bin_dir : ".", base, task_id);
    TH_CHECK (s_system (command) == 0, "docusnap status with the key");
    zstr_free (&command);
    command = zsys_sprintf ("%s/docusnap status --url %s %s >/dev/null",
                            bin_dir ? bin_dir : ".", base, task_id);
    TH_CHECK (s_system (command) == 1, "docusnap status without the key");
    zstr_free (&command);

    //  The keys are not in the gateway's log; the refusals are
    const char *log =
        ds_launcher_log (th_harness_launcher (harness), "gateway");
    TH_CHECK (th_file_contains (log, "UNAUTHORIZED"), "refusals logged");
    TH_CHECK (!th_file_contains (log, KEY_ONE)
                  && !th_file_contains (log, KEY_TWO),
              "a key is in %s", log);
    th_harness_destroy (&harness);

    //  A key with a space in it: the gateway does not start, and says why
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    char *dir = zsys_sprintf ("%s/http_auth_bad.%d", cwd, (int) getpid ());
    char *out = zsys_sprintf ("%s.log", dir);
    command = zsys_sprintf ("%s/docusnap-gateway --data-dir=%s --http-port=0 "
                            "--front-endpoint= '--http-api-key=two words' "
                            ">%s 2>&1",
                            bin_dir ? bin_dir : ".", dir, out);
    TH_CHECK (s_system (command) != 0, "a bad key stops the gateway");
    TH_CHECK (th_file_contains (out, "http-api-key: key 1 is not"),
              "the reason is logged: see %s", out);
    zstr_free (&command);
    zstr_free (&out);
    zstr_free (&dir);

    zstr_free (&health);
    zstr_free (&read);
    zstr_free (&cancel);
    zstr_free (&task_id);
    zstr_free (&submit);
    printf ("test_http_auth: OK\n");
    return 0;
}
