/*  =========================================================================
    testutil - helpers for the integration tests
    =========================================================================
*/

#include "testutil.h"

#define HARNESS_READY_MS 60000
#define HARNESS_STOP_MS 30000

//  Value of name= in a ready file's text; caller frees
static char *
s_value (const char *text, const char *name)
{
    char *key = zsys_sprintf ("%s=", name);
    const char *found = strstr (text, key);
    TH_CHECK (found, "no %s in ready file: %s", name, text);
    found += strlen (key);
    const char *end = strchr (found, '\n');
    zstr_free (&key);
    return zsys_sprintf (
        "%.*s", (int) (end ? end - found : (ptrdiff_t) strlen (found)), found);
}


struct _th_harness_t {
    char *dir;                //  the test's own directory
    char *db;                 //  database path
    ds_launcher_t *launcher;  //  the services
};


//  --------------------------------------------------------------------------
//  Start the pipeline

//  The launcher of the running harness, stopped at exit if the test ends
//  early (a failed TH_CHECK exits)
static ds_launcher_t *s_live;

static void
s_stop_live (void)
{
    if (s_live)
        ds_launcher_stop (s_live, HARNESS_STOP_MS);
}

th_harness_t *
th_harness_new (const char *name, int workers, const char **args)
{
    assert (!s_live);
    zsys_init ();
    curl_global_init (CURL_GLOBAL_DEFAULT);
    th_harness_t *self = (th_harness_t *) zmalloc (sizeof (th_harness_t));
    char cwd [PATH_MAX];
    TH_CHECK (getcwd (cwd, sizeof (cwd)), "getcwd");
    self->dir = zsys_sprintf ("%s/%s.%d", cwd, name, (int) getpid ());
    TH_CHECK (ds_util_mkdir_p (self->dir) == 0, "mkdir %s", self->dir);
    self->db = zsys_sprintf ("%s/docusnap.db", self->dir);
    const char *bin_dir = getenv ("DS_BIN_DIR");
    char *sink = zsys_sprintf ("%s/docusnap-sink", bin_dir ? bin_dir : ".");
    if (access (sink, X_OK)) {
        fprintf (stderr, "SKIP: %s not found\n", sink);
        exit (77);
    }
    zstr_free (&sink);
    self->launcher = ds_launcher_new (bin_dir ? bin_dir : ".", self->dir);
    ds_launcher_set_logs (self->launcher, true);
    //  A failed check exits: the services must not outlive the test
    s_live = self->launcher;
    atexit (s_stop_live);
    char *data_dir = zsys_sprintf ("--data-dir=%s", self->dir);
    ds_launcher_add_arg (self->launcher, "store", data_dir);
    zstr_free (&data_dir);
    ds_launcher_add_arg (self->launcher, "gateway", "--http-port=0");
    ds_launcher_add_arg (self->launcher, "worker", "--ocr-threads=2");
    for (const char **arg = args; arg && *arg; arg++) {
        const char *colon = strchr (*arg, ':');
        TH_CHECK (colon, "harness argument '%s' is not ROLE:--flag", *arg);
        char *role = zsys_sprintf ("%.*s", (int) (colon - *arg), *arg);
        ds_launcher_add_arg (self->launcher, role, colon + 1);
        zstr_free (&role);
    }
    TH_CHECK (ds_launcher_start (self->launcher, workers) == 0,
              "the pipeline did not start; see the logs in %s", self->dir);
    return self;
}


//  --------------------------------------------------------------------------
//  Stop the pipeline, checking each service stops cleanly

void
th_harness_destroy (th_harness_t **self_p)
{
    th_harness_t *self = *self_p;
    if (!self)
        return;
    TH_CHECK (ds_launcher_stop (self->launcher, HARNESS_STOP_MS) == 0,
              "a service did not stop cleanly on SIGTERM; see %s", self->dir);
    s_live = NULL;
    ds_launcher_destroy (&self->launcher);
    zstr_free (&self->dir);
    zstr_free (&self->db);
    free (self);
    *self_p = NULL;
    curl_global_cleanup ();
}


ds_launcher_t *
th_harness_launcher (th_harness_t *self)
{
    return self->launcher;
}


const char *
th_harness_url (th_harness_t *self)
{
    return ds_launcher_url (self->launcher);
}

const char *
th_harness_db (th_harness_t *self)
{
    return self->db;
}


//  --------------------------------------------------------------------------
//  All services still running?

bool
th_harness_alive (th_harness_t *self)
{
    return ds_launcher_supervise (self->launcher, false) == 0;
}


//  --------------------------------------------------------------------------
//  libcurl write callback into a zchunk

static size_t
s_write (char *data, size_t size, size_t count, void *arg)
{
    zchunk_extend ((zchunk_t *) arg, data, size * count);
    return size * count;
}


//  --------------------------------------------------------------------------
//  Perform a prepared request; the answer's header lines too if
//  response_headers is not NULL

static long
s_perform (CURL *curl, char **response, char **response_headers)
{
    zchunk_t *chunk = zchunk_new (NULL, 1024);
    zchunk_t *head = response_headers ? zchunk_new (NULL, 1024) : NULL;
    curl_easy_setopt (curl, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (curl, CURLOPT_WRITEDATA, chunk);
    if (head) {
        curl_easy_setopt (curl, CURLOPT_HEADERFUNCTION, s_write);
        curl_easy_setopt (curl, CURLOPT_HEADERDATA, head);
    }
    curl_easy_setopt (curl, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt (curl, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform (curl) == CURLE_OK)
        curl_easy_getinfo (curl, CURLINFO_RESPONSE_CODE, &status);
    *response = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    if (head) {
        *response_headers = zchunk_strdup (head);
        zchunk_destroy (&head);
    }
    return status;
}


//  --------------------------------------------------------------------------
//  An HTTP request

long
th_http (const char *method,
         const char *url,
         const char *content_type,
         const void *body,
         size_t size,
         char **response)
{
    return th_http_header (method, url, content_type, NULL, body, size,
                           response);
}


//  --------------------------------------------------------------------------
//  An HTTP request with one extra header ("Name: value", or NULL)

long
th_http_header (const char *method,
                const char *url,
                const char *content_type,
                const char *header,
                const void *body,
                size_t size,
                char **response)
{
    return th_http_answer (method, url, content_type, header, body, size,
                           response, NULL);
}


//  --------------------------------------------------------------------------
//  The same, with the answer's header lines

long
th_http_answer (const char *method,
                const char *url,
                const char *content_type,
                const char *header,
                const void *body,
                size_t size,
                char **response,
                char **response_headers)
{
    CURL *curl = curl_easy_init ();
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_easy_setopt (curl, CURLOPT_CUSTOMREQUEST, method);
    struct curl_slist *headers = NULL;
    if (content_type) {
        char *line = zsys_sprintf ("Content-Type: %s", content_type);
        headers = curl_slist_append (headers, line);
        zstr_free (&line);
    }
    if (header)
        headers = curl_slist_append (headers, header);
    headers = curl_slist_append (headers, "Expect:");
    curl_easy_setopt (curl, CURLOPT_HTTPHEADER, headers);
    if (body) {
        curl_easy_setopt (curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt (curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) size);
    }
    long status = s_perform (curl, response, response_headers);
    curl_slist_free_all (headers);
    curl_easy_cleanup (curl);
    return status;
}


//  --------------------------------------------------------------------------
//  Multipart POST

long
th_http_multipart (const char *url,
                   const char **paths,
                   const char **fields,
                   char **response)
{
    CURL *curl = curl_easy_init ();
    curl_easy_setopt (curl, CURLOPT_URL, url);
    curl_mime *mime = curl_mime_init (curl);
    for (const char **path = paths; path && *path; path++) {
        curl_mimepart *part = curl_mime_addpart (mime);
        curl_mime_name (part, "images");
        curl_mime_filedata (part, *path);
    }
    for (const char **field = fields; field && *field; field++) {
        const char *equals = strchr (*field, '=');
        char *name = zsys_sprintf ("%.*s", (int) (equals - *field), *field);
        curl_mimepart *part = curl_mime_addpart (mime);
        curl_mime_name (part, name);
        curl_mime_data (part, equals + 1, CURL_ZERO_TERMINATED);
        zstr_free (&name);
    }
    curl_easy_setopt (curl, CURLOPT_MIMEPOST, mime);
    long status = s_perform (curl, response, NULL);
    curl_mime_free (mime);
    curl_easy_cleanup (curl);
    return status;
}


//  --------------------------------------------------------------------------
//  Wait until terminal, or timeout_ms

json_t *
th_wait_terminal (th_harness_t *self, const char *task_id, int64_t timeout_ms)
{
    //  The gateway answers a waiting status request when the task ends
    int64_t deadline = zclock_mono () + timeout_ms;
    json_t *status = NULL;
    int64_t remaining;
    while ((remaining = deadline - zclock_mono ()) > 0) {
        int64_t wait_s = remaining >= 30000 ? 30 : (remaining + 999) / 1000;
        char *url = zsys_sprintf ("%s/api/task_status/%s?wait=%d",
                                  th_harness_url (self), task_id, (int) wait_s);
        char *response = NULL;
        long code = th_http ("GET", url, NULL, NULL, 0, &response);
        zstr_free (&url);
        TH_CHECK (code == 200, "status of %s: HTTP %ld %s", task_id, code,
                  response);
        status = json_loads (response, 0, NULL);
        zstr_free (&response);
        const char *state =
            json_string_value (json_object_get (status, "status"));
        TH_CHECK (state, "status has no state");
        if (ds_util_is_terminal (state))
            break;
        json_decref (status);
        status = NULL;
    }
    return status;
}


//  --------------------------------------------------------------------------
//  Wait for a task to complete

json_t *
th_wait_completed (th_harness_t *self, const char *task_id, int64_t timeout_ms)
{
    json_t *status = th_wait_terminal (self, task_id, timeout_ms);
    const char *state =
        status ? json_string_value (json_object_get (status, "status"))
               : "still running";
    //  On failure say why: the whole status names the error code and text
    char *text = status && !streq (state, "completed")
                     ? json_dumps (status, JSON_COMPACT)
                     : NULL;
    TH_CHECK (streq (state, "completed"), "task %s completed: %s %s", task_id,
              state, text ? text : "");
    free (text);
    return status;
}


//  --------------------------------------------------------------------------
//  Fixtures

char *
th_fixture_path (const char *name)
{
    const char *dir = getenv ("DS_FIXTURES");
    return zsys_sprintf ("%s/%s", dir ? dir : "fixtures", name);
}

zchunk_t *
th_fixture (const char *name)
{
    char *path = th_fixture_path (name);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    TH_CHECK (chunk, "cannot read fixture %s", path);
    zstr_free (&path);
    return chunk;
}

char *
th_images_body (const char **fixtures, const char *extra)
{
    json_t *body = extra ? json_loads (extra, 0, NULL) : json_object ();
    TH_CHECK (body, "bad extra JSON %s", extra);
    json_t *images = json_array ();
    for (const char **name = fixtures; *name; name++) {
        zchunk_t *chunk = th_fixture (*name);
        char *encoded =
            ds_util_base64_encode (zchunk_data (chunk), zchunk_size (chunk));
        json_array_append_new (images, json_string (encoded));
        zstr_free (&encoded);
        zchunk_destroy (&chunk);
    }
    json_object_set_new (body, "images", images);
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    return text;
}

char *
th_submit (th_harness_t *self, const char *type, const char *body)
{
    char *url = zsys_sprintf ("%s/api/process_%s", th_harness_url (self), type);
    char *response = NULL;
    long code = th_http ("POST", url, "application/json", body, strlen (body),
                         &response);
    TH_CHECK (code == 202, "submit %s: HTTP %ld %s", type, code, response);
    json_t *accepted = json_loads (response, 0, NULL);
    const char *task_id =
        json_string_value (json_object_get (accepted, "task_id"));
    TH_CHECK (task_id && ds_util_is_uuid (task_id), "no task id: %s", response);
    TH_CHECK (streq (json_string_value (json_object_get (accepted, "status")),
                     "pending"),
              "not pending: %s", response);
    char *copy = strdup (task_id);
    json_decref (accepted);
    zstr_free (&response);
    zstr_free (&url);
    return copy;
}


//  --------------------------------------------------------------------------
//  Schema checks, after docs/RESULTS.md

static void
s_check_document (json_t *result)
{
    TH_CHECK (json_is_string (json_object_get (result, "title")), "title");
    TH_CHECK (json_is_string (json_object_get (result, "description")),
              "description");
    json_t *tags = json_object_get (result, "tags");
    TH_CHECK (json_is_array (tags), "tags");
    size_t index;
    json_t *item;
    json_array_foreach (tags, index, item)
        TH_CHECK (json_is_string (item), "tags[%zu]", index);
    json_t *kv = json_object_get (result, "kv");
    TH_CHECK (json_is_object (kv), "kv");
    const char *key;
    json_object_foreach (kv, key, item)
        TH_CHECK (json_is_string (item), "kv.%s is not a string", key);
    json_t *related = json_object_get (result, "related");
    TH_CHECK (json_is_array (related), "related");
    json_array_foreach (related, index, item)
        TH_CHECK (json_is_string (json_object_get (item, "type"))
                      && json_is_string (json_object_get (item, "value")),
                  "related[%zu]", index);
    json_t *pages = json_object_get (result, "pages");
    TH_CHECK (json_is_array (pages) && json_array_size (pages) > 0, "pages");
    json_array_foreach (pages, index, item)
    {
        TH_CHECK (json_is_string (json_object_get (item, "text")),
                  "pages[%zu].text", index);
        json_t *confidence = json_object_get (item, "confidence");
        TH_CHECK (json_is_integer (confidence)
                      && json_integer_value (confidence) >= 0
                      && json_integer_value (confidence) <= 100,
                  "pages[%zu].confidence", index);
    }
}

void
th_check_result (const char *type, json_t *result)
{
    TH_CHECK (json_is_object (result), "result is not an object");
    const char *extractor =
        json_string_value (json_object_get (result, "extractor"));
    TH_CHECK (extractor
                  && (streq (extractor, "offline") || streq (extractor, "llm")),
              "extractor");
    json_t *timing = json_object_get (result, "timing");
    TH_CHECK (
        json_is_integer (json_object_get (timing, "ocr_ms"))
            && json_integer_value (json_object_get (timing, "ocr_ms")) >= 0
            && json_is_integer (json_object_get (timing, "llm_ms"))
            && json_integer_value (json_object_get (timing, "llm_ms")) >= 0,
        "timing {ocr_ms, llm_ms}");
    if (streq (type, "document") || streq (type, "form"))
        s_check_document (result);
    if (streq (type, "form")) {
        json_t *fields = json_object_get (result, "fields");
        TH_CHECK (json_is_array (fields), "fields");
        size_t index;
        json_t *item;
        json_array_foreach (fields, index, item)
            TH_CHECK (json_is_string (item), "fields[%zu]", index);
    }
    if (streq (type, "form_filling")) {
        json_t *fields = json_object_get (result, "fields");
        TH_CHECK (json_is_object (fields), "fields");
        const char *name;
        json_t *entry;
        json_object_foreach (fields, name, entry)
        {
            TH_CHECK (json_object_get (entry, "value"), "%s.value", name);
            json_t *source = json_object_get (entry, "source");
            TH_CHECK (source, "%s.source", name);
            if (!json_is_null (source)) {
                const char *kind =
                    json_string_value (json_object_get (source, "type"));
                TH_CHECK (
                    kind && (streq (kind, "document") || streq (kind, "form")),
                    "%s.source.type", name);
                TH_CHECK (
                    json_is_string (json_object_get (source, "resource_id")),
                    "%s.source.resource_id", name);
            }
        }
    }
}


const char *
th_harness_dir (th_harness_t *self)
{
    return self->dir;
}


//  --------------------------------------------------------------------------
//  The mock LLM server

char *
th_mock_start (const char *dir, int latency_ms, const char *api_key, pid_t *pid)
{
    const char *source = getenv ("DS_SOURCE_DIR");
    char *script =
        zsys_sprintf ("%s/tests/mock_llm.py", source ? source : "..");
    if (access ("/usr/bin/python3", X_OK) || access (script, R_OK)) {
        fprintf (stderr, "SKIP: python3 or %s missing\n", script);
        exit (77);
    }
    ds_util_mkdir_p (dir);
    char *ready_file = zsys_sprintf ("%s/mock.ready", dir);
    unlink (ready_file);
    char *latency = zsys_sprintf ("%d", latency_ms);
    *pid = fork ();
    if (*pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        execl ("/usr/bin/python3", "python3", script, "--ready-file",
               ready_file, "--latency-ms", latency, "--api-key", api_key,
               (char *) NULL);
        _exit (127);
    }
    int64_t deadline = zclock_mono () + HARNESS_READY_MS;
    while (!zsys_file_exists (ready_file)) {
        int status;
        TH_CHECK (waitpid (*pid, &status, WNOHANG) == 0, "mock LLM exited");
        TH_CHECK (zclock_mono () < deadline, "mock LLM not ready in time");
        zclock_sleep (10);
    }
    zchunk_t *chunk = zchunk_slurp (ready_file, 0);
    char *text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    char *url = s_value (text, "url");
    zstr_free (&text);
    zstr_free (&latency);
    zstr_free (&ready_file);
    zstr_free (&script);
    return url;
}

json_t *
th_mock_stats (const char *url)
{
    //  url ends with /v1; the stats live at the root
    char *stats_url =
        zsys_sprintf ("%.*s/_mock/stats", (int) (strlen (url) - 3), url);
    char *response = NULL;
    long code = th_http ("GET", stats_url, NULL, NULL, 0, &response);
    TH_CHECK (code == 200, "mock stats: %ld", code);
    json_t *stats = json_loads (response, 0, NULL);
    zstr_free (&response);
    zstr_free (&stats_url);
    return stats;
}

void
th_mock_stop (pid_t pid)
{
    kill (pid, SIGTERM);
    waitpid (pid, NULL, 0);
}

bool
th_file_contains (const char *path, const char *text)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk)
        return false;
    char *content = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    bool found = strstr (content, text) != NULL;
    zstr_free (&content);
    return found;
}

bool
th_wait_file_contains (const char *path, const char *text, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!th_file_contains (path, text)) {
        if (zclock_mono () >= deadline)
            return false;
        zclock_sleep (20);
    }
    return true;
}


//  --------------------------------------------------------------------------
//  The example Python worker, joined to the harness's services

pid_t
th_python_worker (th_harness_t *self, const char *name, const char **extra)
{
    ds_launcher_t *launcher = th_harness_launcher (self);
    const char *source = getenv ("DS_SOURCE_DIR");
    char *script = zsys_sprintf ("%s/clients/python/worker_example.py",
                                 source ? source : "..");
    const char *argv [32] = {"python3",
                             script,
                             ds_launcher_endpoint (launcher, "dispatch"),
                             ds_launcher_endpoint (launcher, "events"),
                             ds_launcher_endpoint (launcher, "publish"),
                             "--id",
                             name};
    size_t count = 7;
    for (const char **arg = extra; arg && *arg && count < 31; arg++)
        argv [count++] = *arg;
    argv [count] = NULL;
    pid_t pid = fork ();
    if (pid == 0) {
        execv ("/usr/bin/python3", (char *const *) argv);
        _exit (127);
    }
    zstr_free (&script);
    return pid;
}
