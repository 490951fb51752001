/*  =========================================================================
    ds_llm - an OpenAI-compatible chat-completions client on libcurl multi

    @header
    libcurl's multi interface reports the sockets it wants watched through
    a socket callback and the time it next needs attention through a timer
    callback; this class keeps both so that the worker's zmq_poll can wait
    on ZeroMQ sockets, OCR threads and HTTP connections at once. Requests
    that wait for a retry sit in a list with their due time; requests past
    the in-flight cap wait in a FIFO.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"

#define LLM_MAX_SOCKETS 1024
#define LLM_BACKOFF_BASE_MS 500
#define LLM_BACKOFF_MAX_MS 10000
#define LLM_RESPONSE_MAX (8 * 1024 * 1024)
#define LLM_MESSAGE_MAX 300

//  One request

typedef struct {
    uint64_t id;            //  caller's id
    char *body;             //  request body, JSON
    char *fallback_body;    //  the same with json_object format, or NULL
    CURL *easy;             //  handle while in flight, else NULL
    zchunk_t *response;     //  response body so far
    int attempts;           //  HTTP attempts made
    int64_t deadline;       //  give up after this (mono ms)
    int64_t retry_at;       //  due time while backing off
    const char *last_code;  //  code of the last failed attempt
    char http_code [24];    //  LLM_HTTP_<status> text
    char last_message [LLM_MESSAGE_MAX];  //  its message
    bool too_large;                       //  response passed LLM_RESPONSE_MAX
} request_t;

//  A socket libcurl wants watched

typedef struct {
    curl_socket_t fd;  //  the socket
    short events;      //  ZMQ_POLLIN | ZMQ_POLLOUT
} watch_t;

//  Structure of our class

struct _ds_llm_t {
    CURLM *multi;                       //  the multi handle
    struct curl_slist *headers;         //  Content-Type and Authorization
    char *url;                          //  {base}/chat/completions
    char *model;                        //  model name
    double temperature;                 //  sampling temperature
    int64_t max_tokens;                 //  reply limit, 0 = provider default
    long connect_timeout_ms;            //  per attempt
    long timeout_ms;                    //  per attempt, whole transfer
    int64_t deadline_ms;                //  per request, all attempts
    int retries;                        //  retries after the first attempt
    size_t max_inflight;                //  cap on transfers in flight
    bool use_schema;                    //  send json_schema response formats
    zlistx_t *waiting;                  //  request_t not yet started (FIFO)
    zlistx_t *backoff;                  //  request_t waiting to retry
    zlistx_t *inflight;                 //  request_t with a transfer
    zlistx_t *done;                     //  ds_llm_reply_t ready for the caller
    watch_t watches [LLM_MAX_SOCKETS];  //  sockets to poll
    int watch_count;                    //  how many
    int64_t timer_due;                  //  curl's timer (mono ms), -1 if none
    bool verbose;                       //  log each attempt
};


//  --------------------------------------------------------------------------
//  curl socket callback: keep the watch list

static int
s_socket_callback (
    CURL *easy, curl_socket_t fd, int what, void *arg, void *socket_arg)
{
    (void) easy;
    (void) socket_arg;
    ds_llm_t *self = (ds_llm_t *) arg;
    int index;
    for (index = 0; index < self->watch_count; index++)
        if (self->watches [index].fd == fd)
            break;
    if (what == CURL_POLL_REMOVE) {
        if (index < self->watch_count)
            self->watches [index] = self->watches [--self->watch_count];
        return 0;
    }
    if (index == self->watch_count) {
        if (self->watch_count == LLM_MAX_SOCKETS)
            return -1;
        self->watch_count++;
    }
    self->watches [index].fd = fd;
    self->watches [index].events =
        (short) ((what & CURL_POLL_IN ? ZMQ_POLLIN : 0)
                 | (what & CURL_POLL_OUT ? ZMQ_POLLOUT : 0));
    return 0;
}


//  --------------------------------------------------------------------------
//  curl timer callback

static int
s_timer_callback (CURLM *multi, long timeout_ms, void *arg)
{
    (void) multi;
    ds_llm_t *self = (ds_llm_t *) arg;
    self->timer_due = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    return 0;
}


//  --------------------------------------------------------------------------
//  Create the client

ds_llm_t *
ds_llm_new (ds_config_t *config)
{
    const char *base = ds_config_get (config, "llm-url");
    if (!*base)
        return NULL;
    ds_llm_t *self = (ds_llm_t *) zmalloc (sizeof (ds_llm_t));
    assert (self);
    size_t length = strlen (base);
    while (length && base [length - 1] == '/')
        length--;
    self->url = zsys_sprintf ("%.*s/chat/completions", (int) length, base);
    self->model = strdup (ds_config_get (config, "llm-model"));
    self->temperature = atof (ds_config_get (config, "llm-temperature"));
    self->max_tokens = ds_config_int (config, "llm-max-tokens");
    self->connect_timeout_ms =
        (long) ds_config_int (config, "llm-connect-timeout");
    self->timeout_ms = (long) ds_config_int (config, "llm-timeout");
    self->deadline_ms = ds_config_int (config, "llm-deadline");
    self->retries = (int) ds_config_int (config, "llm-retries");
    self->max_inflight = (size_t) ds_config_int (config, "llm-max-inflight");
    self->use_schema =
        streq (ds_config_get (config, "llm-response-format"), "json_schema");
    self->verbose = ds_config_bool (config, "verbose");
    self->timer_due = -1;
    self->headers = curl_slist_append (NULL, "Content-Type: application/json");
    self->headers = curl_slist_append (self->headers, "Expect:");
    const char *key = ds_config_get (config, "llm-api-key");
    if (*key) {
        char *authorization = zsys_sprintf ("Authorization: Bearer %s", key);
        self->headers = curl_slist_append (self->headers, authorization);
        zstr_free (&authorization);
    }
    self->waiting = zlistx_new ();
    self->backoff = zlistx_new ();
    self->inflight = zlistx_new ();
    self->done = zlistx_new ();
    self->multi = curl_multi_init ();
    assert (self->multi);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_socket_callback);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_timer_callback);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                       (long) self->max_inflight);
    curl_multi_setopt (self->multi, CURLMOPT_MAXCONNECTS,
                       (long) self->max_inflight);
    zsys_info ("ds_llm: CONFIGURED url=%s model=%s max-inflight=%zu "
               "retries=%d deadline-ms=%" PRId64 " key=%s",
               self->url, self->model, self->max_inflight, self->retries,
               self->deadline_ms, *key ? "set" : "none");
    return self;
}


//  --------------------------------------------------------------------------
//  Free a request

static void
s_request_destroy (request_t **request_p)
{
    request_t *request = *request_p;
    if (request) {
        zstr_free (&request->body);
        zstr_free (&request->fallback_body);
        zchunk_destroy (&request->response);
        free (request);
        *request_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Stop a request's transfer, if it has one

static void
s_request_stop (ds_llm_t *self, request_t *request)
{
    if (request->easy) {
        curl_multi_remove_handle (self->multi, request->easy);
        curl_easy_cleanup (request->easy);
        request->easy = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Destroy the client

void
ds_llm_destroy (ds_llm_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_llm_t *self = *self_p;
        zlistx_t *lists [] = {self->waiting, self->backoff, self->inflight};
        for (int list_nbr = 0; list_nbr < 3; list_nbr++) {
            request_t *request = (request_t *) zlistx_first (lists [list_nbr]);
            while (request) {
                s_request_stop (self, request);
                s_request_destroy (&request);
                request = (request_t *) zlistx_next (lists [list_nbr]);
            }
            zlistx_destroy (&lists [list_nbr]);
        }
        ds_llm_reply_t *reply;
        while ((reply = (ds_llm_reply_t *) zlistx_detach (self->done, NULL)))
            ds_llm_reply_destroy (&reply);
        zlistx_destroy (&self->done);
        curl_multi_cleanup (self->multi);
        curl_slist_free_all (self->headers);
        zstr_free (&self->url);
        zstr_free (&self->model);
        free (self);
        *self_p = NULL;
    }
}


const char *
ds_llm_model (ds_llm_t *self)
{
    return self->model;
}


//  --------------------------------------------------------------------------
//  Response body callback, bounded

static size_t
s_write_callback (char *data, size_t size, size_t count, void *arg)
{
    request_t *request = (request_t *) arg;
    size_t bytes = size * count;
    if (zchunk_size (request->response) + bytes > LLM_RESPONSE_MAX) {
        request->too_large = true;
        return 0;  //  aborts the transfer
    }
    zchunk_extend (request->response, data, bytes);
    return bytes;
}


//  --------------------------------------------------------------------------
//  Start one attempt of a request

static void
s_start (ds_llm_t *self, request_t *request)
{
    request->attempts++;
    zchunk_destroy (&request->response);
    request->response = zchunk_new (NULL, 4096);
    request->too_large = false;
    //  Never let an attempt outlive the request's deadline
    long remaining = (long) (request->deadline - zclock_mono ());
    long timeout = self->timeout_ms < remaining ? self->timeout_ms : remaining;
    if (timeout < 1)
        timeout = 1;
    CURL *easy = curl_easy_init ();
    assert (easy);
    curl_easy_setopt (easy, CURLOPT_URL, self->url);
    curl_easy_setopt (easy, CURLOPT_POST, 1L);
    curl_easy_setopt (easy, CURLOPT_POSTFIELDS, request->body);
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, self->headers);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_write_callback);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, request);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, request);
    curl_easy_setopt (easy, CURLOPT_CONNECTTIMEOUT_MS,
                      self->connect_timeout_ms);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_ACCEPT_ENCODING, "");
    request->easy = easy;
    zlistx_add_end (self->inflight, request);
    curl_multi_add_handle (self->multi, easy);
    if (self->verbose)
        zsys_debug ("ds_llm: ATTEMPT id=%" PRIu64 " attempt=%d", request->id,
                    request->attempts);
}


//  --------------------------------------------------------------------------
//  Start waiting requests while there is room, and due retries

static void
s_start_waiting (ds_llm_t *self)
{
    int64_t now = zclock_mono ();
    request_t *request = (request_t *) zlistx_first (self->backoff);
    while (request && zlistx_size (self->inflight) < self->max_inflight) {
        void *handle = zlistx_cursor (self->backoff);
        request_t *next = (request_t *) zlistx_next (self->backoff);
        if (request->retry_at <= now) {
            zlistx_detach (self->backoff, handle);
            s_start (self, request);
        }
        request = next;
    }
    while (zlistx_size (self->waiting)
           && zlistx_size (self->inflight) < self->max_inflight)
        s_start (self, (request_t *) zlistx_detach (self->waiting, NULL));
}


//  --------------------------------------------------------------------------
//  Finish a request: queue its reply

static void
s_finish (ds_llm_t *self, request_t *request, bool ok, char *content)
{
    ds_llm_reply_t *reply =
        (ds_llm_reply_t *) zmalloc (sizeof (ds_llm_reply_t));
    assert (reply);
    reply->id = request->id;
    reply->ok = ok;
    reply->content = content;
    reply->attempts = request->attempts;
    if (!ok) {
        snprintf (reply->code, sizeof (reply->code), "%s", request->last_code);
        reply->message =
            zsys_sprintf ("%s (after %d attempt%s)", request->last_message,
                          request->attempts, request->attempts == 1 ? "" : "s");
    }
    zlistx_add_end (self->done, reply);
    s_request_destroy (&request);
}


//  --------------------------------------------------------------------------
//  Backoff before attempt n+1: base * 2^(n-1), jittered by +-50%

static int64_t
s_backoff_ms (int attempts)
{
    int64_t delay = LLM_BACKOFF_BASE_MS;
    for (int attempt = 1; attempt < attempts && delay < LLM_BACKOFF_MAX_MS;
         attempt++)
        delay *= 2;
    if (delay > LLM_BACKOFF_MAX_MS)
        delay = LLM_BACKOFF_MAX_MS;
    return delay / 2 + (int64_t) (randof (delay + 1));
}


//  --------------------------------------------------------------------------
//  Take the content out of a chat-completions response; NULL if it is not
//  one. Returns a new string.

static char *
s_content (zchunk_t *response)
{
    json_t *root = json_loadb ((const char *) zchunk_data (response),
                               zchunk_size (response), 0, NULL);
    json_t *choice = json_array_get (json_object_get (root, "choices"), 0);
    json_t *content =
        json_object_get (json_object_get (choice, "message"), "content");
    char *text =
        json_is_string (content) ? strdup (json_string_value (content)) : NULL;
    json_decref (root);
    return text;
}


//  --------------------------------------------------------------------------
//  One attempt ended: succeed, retry, or fail

static void
s_attempt_done (ds_llm_t *self, request_t *request, CURLcode result)
{
    long status = 0;
    curl_off_t retry_after = 0;
    curl_easy_getinfo (request->easy, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo (request->easy, CURLINFO_RETRY_AFTER, &retry_after);
    s_request_stop (self, request);
    zlistx_detach (self->inflight, zlistx_find (self->inflight, request));

    bool retry = false;
    char *content = NULL;
    if (result == CURLE_OK && status == 200) {
        content = s_content (request->response);
        if (content) {
            s_finish (self, request, true, content);
            return;
        }
        request->last_code = "LLM_BAD_OUTPUT";
        snprintf (request->last_message, LLM_MESSAGE_MAX,
                  "the LLM service answered 200 without a chat completion "
                  "(no choices[0].message.content)");
        retry = true;
    }
    else if (result == CURLE_OPERATION_TIMEDOUT) {
        request->last_code = "LLM_TIMEOUT";
        snprintf (request->last_message, LLM_MESSAGE_MAX,
                  "the LLM service did not answer within %ld ms",
                  self->timeout_ms);
        retry = true;
    }
    else if (result != CURLE_OK && request->too_large) {
        request->last_code = "LLM_BAD_OUTPUT";
        snprintf (request->last_message, LLM_MESSAGE_MAX,
                  "the LLM reply is over %d bytes", LLM_RESPONSE_MAX);
    }
    else if (result != CURLE_OK) {
        request->last_code = "LLM_UNAVAILABLE";
        snprintf (request->last_message, LLM_MESSAGE_MAX,
                  "cannot reach the LLM service: %s",
                  curl_easy_strerror (result));
        retry = true;
    }
    else {
        snprintf (request->http_code, sizeof (request->http_code),
                  "LLM_HTTP_%ld", status);
        request->last_code = request->http_code;
        char sample [DS_UTIL_SAMPLE + 1];
        ds_util_sample (zchunk_data (request->response),
                        zchunk_size (request->response), sample);
        snprintf (request->last_message, LLM_MESSAGE_MAX,
                  "the LLM service answered HTTP %ld: %.120s", status, sample);
        retry = status == 429 || status >= 500;
        //  A provider that refuses JSON schemas gets json_object instead
        if (status == 400 && request->fallback_body
            && (strstr (sample, "response_format")
                || strstr (sample, "schema"))) {
            zsys_notice ("ds_llm: SCHEMA-REFUSED falling back to "
                         "json_object for this provider");
            self->use_schema = false;
            zstr_free (&request->body);
            request->body = request->fallback_body;
            request->fallback_body = NULL;
            request->retry_at = zclock_mono ();
            zlistx_add_end (self->backoff, request);
            return;
        }
    }
    int64_t delay = retry_after > 0 ? (int64_t) retry_after * 1000
                                    : s_backoff_ms (request->attempts);
    if (retry && request->attempts <= self->retries
        && zclock_mono () + delay < request->deadline) {
        zsys_warning ("ds_llm: RETRY id=%" PRIu64 " attempt=%d code=%s "
                      "delay-ms=%" PRId64,
                      request->id, request->attempts, request->last_code,
                      delay);
        request->retry_at = zclock_mono () + delay;
        zlistx_add_end (self->backoff, request);
    }
    else {
        if (retry && request->attempts <= self->retries) {
            //  Out of time rather than out of tries
            request->last_code = "LLM_TIMEOUT";
            snprintf (request->last_message, LLM_MESSAGE_MAX,
                      "no answer from the LLM service within the deadline "
                      "of %" PRId64 " ms",
                      self->deadline_ms);
        }
        zsys_warning ("ds_llm: FAILED id=%" PRIu64 " attempts=%d code=%s",
                      request->id, request->attempts, request->last_code);
        s_finish (self, request, false, NULL);
    }
}


//  --------------------------------------------------------------------------
//  Collect finished transfers

static void
s_collect (ds_llm_t *self)
{
    CURLMsg *message;
    int left;
    while ((message = curl_multi_info_read (self->multi, &left)))
        if (message->msg == CURLMSG_DONE) {
            request_t *request = NULL;
            curl_easy_getinfo (message->easy_handle, CURLINFO_PRIVATE,
                               (char **) &request);
            s_attempt_done (self, request, message->data.result);
        }
    s_start_waiting (self);
}


//  --------------------------------------------------------------------------
//  Build the request body

static char *
s_body (ds_llm_t *self, json_t *messages, json_t *schema, bool use_schema)
{
    json_t *body =
        json_pack ("{s:s, s:O, s:f}", "model", self->model, "messages",
                   messages, "temperature", self->temperature);
    if (self->max_tokens)
        json_object_set_new (body, "max_tokens",
                             json_integer (self->max_tokens));
    if (schema && use_schema)
        json_object_set_new (body, "response_format",
                             json_pack ("{s:s, s:{s:s, s:b, s:O}}", "type",
                                        "json_schema", "json_schema", "name",
                                        "result", "strict", false, "schema",
                                        schema));
    else if (schema)
        json_object_set_new (body, "response_format",
                             json_pack ("{s:s}", "type", "json_object"));
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    return text;
}


//  --------------------------------------------------------------------------
//  Start a request

int
ds_llm_request (ds_llm_t *self, uint64_t id, json_t *messages, json_t *schema)
{
    assert (self);
    request_t *request = (request_t *) zmalloc (sizeof (request_t));
    assert (request);
    request->id = id;
    request->body = s_body (self, messages, schema, self->use_schema);
    if (schema && self->use_schema)
        request->fallback_body = s_body (self, messages, schema, false);
    request->deadline = zclock_mono () + self->deadline_ms;
    request->last_code = "LLM_UNAVAILABLE";
    zlistx_add_end (self->waiting, request);
    s_start_waiting (self);
    return 0;
}


//  --------------------------------------------------------------------------
//  Abandon a request

int
ds_llm_cancel (ds_llm_t *self, uint64_t id)
{
    zlistx_t *lists [] = {self->waiting, self->backoff, self->inflight};
    for (int list_nbr = 0; list_nbr < 3; list_nbr++) {
        request_t *request = (request_t *) zlistx_first (lists [list_nbr]);
        while (request) {
            if (request->id == id) {
                zlistx_detach_cur (lists [list_nbr]);
                s_request_stop (self, request);
                s_request_destroy (&request);
                s_start_waiting (self);
                return 0;
            }
            request = (request_t *) zlistx_next (lists [list_nbr]);
        }
    }
    return -1;
}


//  --------------------------------------------------------------------------
//  Sockets to poll

int
ds_llm_pollitems (ds_llm_t *self, zmq_pollitem_t *items, int max)
{
    int count = 0;
    for (int index = 0; index < self->watch_count && count < max; index++) {
        items [count].socket = NULL;
        items [count].fd = self->watches [index].fd;
        items [count].events = self->watches [index].events;
        items [count].revents = 0;
        count++;
    }
    return count;
}


//  --------------------------------------------------------------------------
//  Time until the next timer

long
ds_llm_timeout (ds_llm_t *self)
{
    int64_t now = zclock_mono ();
    int64_t due = self->timer_due;
    request_t *request = (request_t *) zlistx_first (self->backoff);
    while (request) {
        if (due < 0 || request->retry_at < due)
            due = request->retry_at;
        request = (request_t *) zlistx_next (self->backoff);
    }
    if (due < 0)
        return -1;
    return due <= now ? 0 : (long) (due - now);
}


//  --------------------------------------------------------------------------
//  Act on ready sockets and expired timers

void
ds_llm_execute (ds_llm_t *self, zmq_pollitem_t *items, int count)
{
    int running = 0;
    for (int index = 0; index < count; index++) {
        if (!items [index].revents)
            continue;
        int mask =
            (items [index].revents & ZMQ_POLLIN ? CURL_CSELECT_IN : 0)
            | (items [index].revents & ZMQ_POLLOUT ? CURL_CSELECT_OUT : 0)
            | (items [index].revents & ZMQ_POLLERR ? CURL_CSELECT_ERR : 0);
        curl_multi_socket_action (self->multi, items [index].fd, mask,
                                  &running);
    }
    if (self->timer_due >= 0 && zclock_mono () >= self->timer_due) {
        self->timer_due = -1;
        curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0,
                                  &running);
    }
    s_collect (self);
}


//  --------------------------------------------------------------------------
//  Next finished request

ds_llm_reply_t *
ds_llm_next (ds_llm_t *self)
{
    return (ds_llm_reply_t *) zlistx_detach (self->done, NULL);
}


void
ds_llm_reply_destroy (ds_llm_reply_t **self_p)
{
    ds_llm_reply_t *self = *self_p;
    if (self) {
        zstr_free (&self->content);
        zstr_free (&self->message);
        free (self);
        *self_p = NULL;
    }
}


size_t
ds_llm_active (ds_llm_t *self)
{
    return zlistx_size (self->waiting) + zlistx_size (self->backoff)
           + zlistx_size (self->inflight);
}


//  --------------------------------------------------------------------------
//  Self test: a service that is not there fails fast with LLM_UNAVAILABLE;
//  the full fault battery runs against tests/mock_llm.py in it.llm_*.

void
ds_llm_test (bool verbose)
{
    printf (" * ds_llm: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    ds_config_t *config = ds_config_new ("worker", DS_ROLE_WORKER, "test");
    assert (ds_llm_new (config) == NULL);  //  not configured: offline
    //  Port 9 on loopback (discard) is closed on a test machine
    ds_config_set (config, "llm-url", "http://127.0.0.1:9/v1/");
    ds_config_set (config, "llm-retries", "1");
    ds_config_set (config, "llm-api-key", "sk-selftest");
    ds_llm_t *llm = ds_llm_new (config);
    assert (llm);
    json_t *messages =
        json_pack ("[{s:s, s:s}]", "role", "user", "content", "hi");
    assert (ds_llm_request (llm, 42, messages, NULL) == 0);
    assert (ds_llm_active (llm) == 1);
    ds_llm_reply_t *reply = NULL;
    int64_t deadline = zclock_mono () + 20000;
    while (!reply && zclock_mono () < deadline) {
        zmq_pollitem_t items [16];
        int count = ds_llm_pollitems (llm, items, 16);
        long timeout = ds_llm_timeout (llm);
        zmq_poll (items, count, timeout < 0 || timeout > 100 ? 100 : timeout);
        ds_llm_execute (llm, items, count);
        reply = ds_llm_next (llm);
    }
    assert (reply);
    assert (reply->id == 42 && !reply->ok);
    assert (streq (reply->code, "LLM_UNAVAILABLE"));
    assert (reply->attempts == 2);
    assert (strstr (reply->message, "after 2 attempts"));
    ds_llm_reply_destroy (&reply);
    //  Cancel before it finishes
    assert (ds_llm_request (llm, 43, messages, NULL) == 0);
    assert (ds_llm_cancel (llm, 43) == 0);
    assert (ds_llm_cancel (llm, 43) == -1);
    assert (ds_llm_active (llm) == 0);
    json_decref (messages);
    ds_llm_destroy (&llm);
    ds_config_destroy (&config);
    //  @end
    printf ("OK\n");
}
