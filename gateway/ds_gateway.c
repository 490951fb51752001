/*  =========================================================================
    ds_gateway - the HTTP API: validate, store, queue, answer status

    @header
    One thread, the actor's, runs the gateway as an event loop, as redis
    does: libmicrohttpd in external epoll mode (its descriptor polled with
    the ZMQ sockets), the ZMQ front door, the store connection and the
    sockets to the ventilator and the sink. A valid HTTP submission
    suspends its connection and joins the batch, as does each SUBMIT on
    the front door; after each round of the loop the batch is inserted in
    one transaction (one fsync; the write lock, which the sink's batches
    wait for, is taken only then, not while requests are read and
    checked), and only after the commit are the tasks
    queued for the ventilator and the answers given: a REPLY on the front
    door, or the answer left in the request and its connection resumed.
    A status request that asks to wait suspends its connection too: the
    gateway subscribes to the task's id on the sink's publish socket and
    answers when a terminal STATE comes (or a read of the store, every
    few seconds, finds the task ended), or when the wait is over.
    One other thread, the parser, parses JSON bodies of 32 KB and more
    (photographs in base64) while the loop goes on: it is handed the
    suspended request and hands it back, and the loop touches the
    request only before and after.

    Routes:
        POST /api/process_document, /api/process_form,
             /api/process_form_filling   -> 202 {"task_id", "status"}
        GET  /api/task_status/{task_id}  -> 200 status, or 404
             ?wait=SECONDS: answered when the task ends, or at the latest
             after SECONDS (at most 60), with its status then; at once
             while max-waiting requests wait already
        DELETE /api/tasks/{task_id}      -> 200, 404 or 409
        GET  /healthz                    -> 200 {"status": "ok", ...}
    With http-api-key set, /api/ requests must carry one of its keys as
    Authorization: Bearer KEY (401 UNAUTHORIZED, before any body is read).
    Every error is {"error": {"code", "message"}} with its HTTP status.
    @end
    =========================================================================
*/

#include "ds_gateway_classes.h"

#define GATEWAY_SNDHWM 100000
#define GATEWAY_CONNECTION_LIMIT 1024
#define GATEWAY_CONNECTION_TIMEOUT 60  //  seconds idle
#define GATEWAY_POST_BUFFER 65536
#define GATEWAY_BODY_INITIAL 65536
#define STATUS_PREFIX "/api/task_status/"
#define SUBMIT_PREFIX "/api/process_"
#define TASKS_PREFIX "/api/tasks/"
#define RETRY_AFTER_S "1"
#define GATEWAY_BATCH 512         //  submissions committed together at most
#define GATEWAY_PENDING_MS 100    //  how old the pending count may be
#define GATEWAY_TICK_MS 1000      //  the loop wakes at least this often
#define GATEWAY_HTTP_ROUNDS 4     //  daemon runs per round of the loop, at most
#define GATEWAY_LOG_IDS 8         //  task ids per ACCEPTED line, at most
#define GATEWAY_ID_SIZE 37        //  a task id (canonical UUID) and a comma
#define GATEWAY_PARSE_AWAY 32768  //  JSON bodies this large: parser thread
#define GATEWAY_MAX_WAIT_S 60     //  a status request waits this long at most
#define GATEWAY_RECHECK_MS 5000   //  a waiting request reads the store again
#define GATEWAY_MAX_KEYS 8        //  HTTP API keys accepted at once, at most
#define GATEWAY_KEY_MAX 256       //  bytes in one key, at most
#define GATEWAY_SHA256_HEX 65     //  a SHA-256 in hex, and a null

//  What each door (HTTP, ZMQ front door) has done

typedef struct {
    uint64_t accepted;  //  submissions answered 202
    uint64_t rejected;  //  requests answered with an error
    uint64_t lost;      //  answers the client was not there to take
} door_t;

//  The gateway's state. One thread, the actor's, runs everything: the
//  HTTP daemon (libmicrohttpd in external epoll mode, run from this loop),
//  the front door, the store and the sockets; the parser thread only
//  parses the large JSON bodies it is handed

typedef struct {
    struct MHD_Daemon *daemon;  //  the HTTP server
    zsock_t *router;            //  ROUTER, bound: the ZMQ front door
    ds_store_t *store;          //  task store connection
    zsock_t *queue;             //  PUSH to the ventilator: QUEUE
    zsock_t *events;            //  PUSH to the sink: CANCELLED
    zsock_t *states;            //  SUB to the sink: STATEs of waited tasks
    ds_proto_t *state;          //  a STATE received
    zhashx_t *waiting;          //  task id -> zlistx_t of request_t waiting
    size_t waiters;             //  requests waiting, in all
    int64_t wake_at;            //  mono ms of the next deadline, 0 for none
    door_t http;                //  what HTTP did
    door_t front;               //  what the front door did
    zlistx_t *answers;          //  answer_t owed when the batch commits
    zlistx_t *staged;           //  staged_t to write in the batch
    zlistx_t *announce;         //  QUEUE messages to send once committed
    zactor_t *parser;           //  parses large JSON bodies off the loop
    size_t parsing;             //  requests away at the parser
    bool stopping;              //  answer new submissions 503, do not wait
    size_t resumed;             //  HTTP connections resumed by the flush
    int64_t pending;            //  pending tasks, last counted plus accepted
    int64_t counted_at;         //  mono ms of the last count, 0 for never
    int64_t max_queue;          //  pending tasks at most
    size_t max_waiting;         //  waiting status requests at most
    bool echo;                  //  accept the benchmark's echo tasks
    ds_limits_t limits;         //  submission limits
    size_t max_body;            //  largest request body
    bool verbose;               //  log each request
    char keys [GATEWAY_MAX_KEYS][GATEWAY_SHA256_HEX];  //  keys' SHA-256
    size_t key_count;                                  //  0: no check
    uint64_t unauthorized;  //  /api/ requests refused for their key
    uint64_t waits_full;    //  waits answered at once: max-waiting held
} gateway_t;

//  One HTTP request being received

typedef struct {
    ds_submission_t *submission;        //  what is being submitted, or NULL
    struct MHD_PostProcessor *post;     //  multipart parser, or NULL
    char *body;                         //  JSON body received so far
    size_t body_size;                   //  bytes in body
    size_t body_max;                    //  bytes allocated
    size_t received;                    //  bytes of body received in all
    zchunk_t *part;                     //  multipart part being received
    char *part_name;                    //  its field name
    bool part_is_file;                  //  it had a filename or an image type
    bool too_large;                     //  the body passed max_body
    struct MHD_Connection *connection;  //  its connection, once suspended
    bool suspended;                     //  suspended, waiting for the batch
    bool answered;                      //  the flush left the answer here
    unsigned int status;                //  the answer's HTTP status
    json_t *answer;                     //  the answer's body
    char *task_id;                      //  the accepted task, or NULL
    char *wait_id;                      //  status wait: the task, or NULL
    void *wait_handle;                  //  its place in the task's waiters
    int64_t wait_until;                 //  mono ms: answer as it is then
    int64_t recheck_at;                 //  mono ms: read the store again
    bool bodiless;                      //  not a POST: routed once complete
} request_t;

//  An answer owed when the batch commits: to a front door client, or to a
//  suspended HTTP request

typedef struct {
    zframe_t *identity;   //  front door: the client's routing id
    zframe_t *delimiter;  //  its REQ envelope delimiter, or NULL
    char *request_id;     //  its request id
    request_t *request;   //  HTTP: the suspended request, or NULL
    unsigned int status;  //  HTTP status of the answer
    json_t *body;         //  the answer
    char *task_id;        //  the task accepted, or NULL
} answer_t;

//  A submission accepted into the batch, written when the batch is: the
//  write lock is taken only to write, not while requests are read

typedef struct {
    ds_submission_t *submission;     //  the checked submission
    char *key;                       //  its scoped idempotency key, or NULL
    answer_t *answer;                //  its answer (task id and 202), owed
    char hash [DS_STORE_HASH_SIZE];  //  its content hash, made beforehand
} staged_t;


//  --------------------------------------------------------------------------
//  Queue a JSON response and release it

static enum MHD_Result
s_respond (struct MHD_Connection *connection,
           unsigned int status,
           json_t *body,
           const char *header,
           const char *value)
{
    char *text = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    assert (text);
    size_t length = strlen (text);
    struct MHD_Response *response =
        MHD_create_response_from_buffer (length, text, MHD_RESPMEM_MUST_FREE);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                             "application/json");
    if (header)
        MHD_add_response_header (response, header, value);
    enum MHD_Result rc = MHD_queue_response (connection, status, response);
    MHD_destroy_response (response);
    return rc;
}


//  --------------------------------------------------------------------------
//  An error body, counted on the door

static json_t *
s_error_json (gateway_t *self,
              door_t *door,
              const char *code,
              const char *message)
{
    door->rejected++;
    if (self->verbose)
        zsys_debug ("ds_gateway: REJECTED code=%s message=\"%s\"", code,
                    message);
    return json_pack ("{s:{s:s, s:s}}", "error", "code", code, "message",
                      message);
}


//  --------------------------------------------------------------------------
//  Queue an error response

static enum MHD_Result
s_error (gateway_t *self,
         struct MHD_Connection *connection,
         unsigned int status,
         const char *code,
         const char *message,
         const char *header,
         const char *value)
{
    json_t *body = s_error_json (self, &self->http, code, message);
    return s_respond (connection, status, body, header, value);
}


//  --------------------------------------------------------------------------
//  True if the queue is at its bound; message says so

static bool
s_queue_full (gateway_t *self, char *message, size_t size)
{
    //  Counted at most every GATEWAY_PENDING_MS, plus what we accepted
    //  since: counting per submission costs more than the submission, and
    //  most of all when the queue is full and every answer is a 503
    int64_t now = zclock_mono ();
    if (!self->counted_at || now - self->counted_at >= GATEWAY_PENDING_MS) {
        self->pending = ds_store_count (self->store, "pending");
        self->counted_at = now;
    }
    int64_t pending = self->pending;
    if (pending < self->max_queue)
        return false;
    snprintf (message, size,
              "%" PRId64 " tasks are waiting (the limit is %" PRId64
              "); retry later",
              pending, self->max_queue);
    return true;
}


//  --------------------------------------------------------------------------
//  The answer to an accepted submission: 202 and its task (id is taken)

static json_t *
s_accepted (char *id, unsigned int *status, char **task_id)
{
    *status = MHD_HTTP_ACCEPTED;
    *task_id = id;
    return json_pack ("{s:s, s:s}", "task_id", id, "status", "pending");
}


//  --------------------------------------------------------------------------
//  The answer when the store could not save a submission: 503

static json_t *
s_unavailable (gateway_t *self, door_t *door, unsigned int *status)
{
    *status = MHD_HTTP_SERVICE_UNAVAILABLE;
    return s_error_json (self, door, "STORE_UNAVAILABLE",
                         "the task store could not save the task; try again");
}


//  --------------------------------------------------------------------------
//  Stage a checked submission (taken) under its scoped idempotency key
//  (taken, or NULL) for the batch; as s_submit

static void
s_stage (gateway_t *self,
         door_t *door,
         ds_submission_t **submission_p,
         char **key_p,
         answer_t *answer)
{
    char message [128];
    char *existing = *key_p ? ds_store_task_by_key (self->store, *key_p) : NULL;
    if (existing) {
        zsys_info ("ds_gateway: REPLAYED task=%s (idempotency key)", existing);
        answer->body = s_accepted (existing, &answer->status, &answer->task_id);
        return;
    }
    //  Backpressure: past the queue bound, store nothing
    if (s_queue_full (self, message, sizeof (message))) {
        answer->status = MHD_HTTP_SERVICE_UNAVAILABLE;
        answer->body = s_error_json (self, door, "QUEUE_FULL", message);
        return;
    }
    //  Answered 202 if the batch is written and committed (s_flush)
    answer->body =
        s_accepted (ds_util_uuid (), &answer->status, &answer->task_id);
    staged_t *staged = (staged_t *) zmalloc (sizeof (staged_t));
    assert (staged);
    staged->submission = *submission_p;
    *submission_p = NULL;
    staged->key = *key_p;
    *key_p = NULL;
    staged->answer = answer;
    //  Hashed now: the batch's write lock is not held while SHA-256 reads
    //  its photographs
    ds_store_content_hash (ds_submission_images (staged->submission),
                           ds_submission_image_count (staged->submission),
                           ds_submission_form (staged->submission),
                           ds_submission_file_lib (staged->submission),
                           staged->hash);
    zlistx_add_end (self->staged, staged);
    self->pending++;
}


//  --------------------------------------------------------------------------
//  Write one staged task in the open batch, and its QUEUE for after the
//  commit; if its key was taken meanwhile (in this batch, or by another
//  gateway on the same store), answer with that task; if it cannot be
//  written, 503

static void
s_write_staged (gateway_t *self, staged_t *staged, bool begun)
{
    answer_t *answer = staged->answer;
    ds_submission_t *submission = staged->submission;
    if (begun
        && ds_store_insert_keyed (self->store, answer->task_id,
                                  ds_submission_task_type (submission),
                                  ds_submission_priority (submission),
                                  ds_submission_images (submission),
                                  ds_submission_image_count (submission),
                                  ds_submission_form (submission),
                                  ds_submission_file_lib (submission),
                                  staged->key, staged->hash)
               == 0) {
        ds_proto_t *queue = ds_proto_new (DS_PROTO_QUEUE);
        ds_proto_set_task_id (queue, answer->task_id);
        ds_proto_set_task_type (queue, ds_submission_task_type (submission));
        ds_proto_set_priority (queue, ds_submission_priority (submission));
        zlistx_add_end (self->announce, queue);
        return;
    }
    door_t *door = answer->request ? &self->http : &self->front;
    char *existing = begun && staged->key
                         ? ds_store_task_by_key (self->store, staged->key)
                         : NULL;
    json_decref (answer->body);
    zstr_free (&answer->task_id);
    if (existing) {
        zsys_info ("ds_gateway: REPLAYED task=%s (idempotency key, stored "
                   "meanwhile)",
                   existing);
        answer->body = s_accepted (existing, &answer->status, &answer->task_id);
    }
    else {
        if (begun)
            zsys_error ("ds_gateway: STORE-FAIL error=%s",
                        ds_store_error (self->store));
        answer->body = s_unavailable (self, door, &answer->status);
    }
}


//  --------------------------------------------------------------------------
//  Take a submission in: check it, stage it for the batch. Fills the
//  answer: 202 with its task id when accepted (the batch may still turn
//  it into a 503), else an error. The same for HTTP and the front door;
//  a staged submission is taken (*submission_p set to NULL).

static void
s_submit (gateway_t *self,
          door_t *door,
          ds_submission_t **submission_p,
          const char *client,
          answer_t *answer)
{
    ds_submission_t *submission = *submission_p;
    if (ds_submission_check (submission)) {
        answer->status = (unsigned int) ds_submission_status (submission);
        answer->body =
            s_error_json (self, door, ds_submission_code (submission),
                          ds_submission_message (submission));
        return;
    }
    //  The same idempotency key again from the same client: the task it
    //  made, stored nothing new. Keys are scoped by the client's CURVE key
    //  when it has one; clients without one share a scope
    char *key = NULL;
    if (ds_submission_idempotency_key (submission))
        key = client ? zsys_sprintf ("curve:%s/%s", client,
                                     ds_submission_idempotency_key (submission))
                     : strdup (ds_submission_idempotency_key (submission));
    s_stage (self, door, submission_p, &key, answer);
    zstr_free (&key);
}


//  --------------------------------------------------------------------------
//  Status of a task: 200 and the status, or 404

static json_t *
s_status_json (gateway_t *self,
               door_t *door,
               const char *task_id,
               unsigned int *status)
{
    json_t *body = ds_util_is_uuid (task_id)
                       ? ds_store_task_status (self->store, task_id)
                       : NULL;
    *status = body ? MHD_HTTP_OK : MHD_HTTP_NOT_FOUND;
    if (!body) {
        char message [128];
        snprintf (message, sizeof (message), "no task with id '%.40s'",
                  task_id);
        body = s_error_json (self, door, "TASK_NOT_FOUND", message);
    }
    return body;
}


//  --------------------------------------------------------------------------
//  Cancel a pending or running task: 200, 409 or 404

static json_t *
s_cancel_json (gateway_t *self,
               door_t *door,
               const char *task_id,
               unsigned int *status)
{
    int rc =
        ds_util_is_uuid (task_id) ? ds_store_cancel (self->store, task_id) : -1;
    if (rc == -1) {
        char message [128];
        snprintf (message, sizeof (message), "no task with id '%.40s'",
                  task_id);
        *status = MHD_HTTP_NOT_FOUND;
        return s_error_json (self, door, "TASK_NOT_FOUND", message);
    }
    if (rc == 0) {
        char *state = ds_store_task_state (self->store, task_id, NULL, NULL);
        char *message = zsys_sprintf ("the task has ended already (%s)",
                                      state ? state : "gone");
        json_t *body = s_error_json (self, door, "TASK_ENDED", message);
        zstr_free (&message);
        zstr_free (&state);
        *status = MHD_HTTP_CONFLICT;
        return body;
    }
    //  Committed; tell the sink, which tells the worker and the ventilator
    ds_proto_t *event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (event, task_id);
    ds_proto_set_event (event, DS_EVENT_CANCELLED);
    ds_proto_set_worker (event, "gateway");
    ds_proto_set_time_ms (event, ds_util_now_ms ());
    zframe_t *frame = ds_proto_encode (event);
    if (zframe_send (&frame, self->events, ZFRAME_DONTWAIT))
        zframe_destroy (&frame);
    ds_proto_destroy (&event);
    zsys_info ("ds_gateway: CANCELLED task=%s", task_id);
    *status = MHD_HTTP_OK;
    return json_pack ("{s:s, s:s}", "task_id", task_id, "status", "cancelled");
}


//  --------------------------------------------------------------------------
//  Queue an answer: 202 with Location, 503 with Retry-After, or as it is

static enum MHD_Result
s_respond_answer (struct MHD_Connection *connection,
                  unsigned int status,
                  json_t *body,
                  const char *task_id)
{
    if (task_id) {
        char *location = zsys_sprintf (STATUS_PREFIX "%s", task_id);
        enum MHD_Result rc = s_respond (connection, status, body,
                                        MHD_HTTP_HEADER_LOCATION, location);
        zstr_free (&location);
        return rc;
    }
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        return s_respond (connection, status, body, MHD_HTTP_HEADER_RETRY_AFTER,
                          RETRY_AFTER_S);
    return s_respond (connection, status, body, NULL, NULL);
}


//  --------------------------------------------------------------------------
//  Why an HTTP submission whose body is in may not join the batch: its
//  checks refused it, or the gateway is stopping. Returns the answer's
//  body and sets *status, or NULL if it may join.

static json_t *
s_refusal (gateway_t *self, ds_submission_t *submission, unsigned int *status)
{
    if (ds_submission_check (submission)) {
        *status = (unsigned int) ds_submission_status (submission);
        return s_error_json (self, &self->http, ds_submission_code (submission),
                             ds_submission_message (submission));
    }
    if (self->stopping) {
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        return s_error_json (self, &self->http, "STOPPING",
                             "the gateway is stopping; try again");
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  A valid submission: suspend its connection and add it to the batch; the
//  flush after this round of the loop commits it, leaves the answer in the
//  request and resumes the connection

static void s_http_submission (gateway_t *self, request_t *request);
static void s_flush (gateway_t *self);

static enum MHD_Result
s_join_batch (gateway_t *self,
              struct MHD_Connection *connection,
              request_t *request)
{
    unsigned int status;
    json_t *refusal = s_refusal (self, request->submission, &status);
    if (refusal)
        return s_respond_answer (connection, status, refusal, NULL);
    request->connection = connection;
    request->suspended = true;
    MHD_suspend_connection (connection);
    s_http_submission (self, request);
    return MHD_YES;
}


//  --------------------------------------------------------------------------
//  The batch answered a suspended request and resumed its connection

static enum MHD_Result
s_answered (struct MHD_Connection *connection, request_t *request)
{
    assert (request->answered);
    json_t *body = request->answer;
    request->answer = NULL;
    return s_respond_answer (connection, request->status, body,
                             request->task_id);
}


//  --------------------------------------------------------------------------
//  Finish the multipart part being received

static void
s_end_part (request_t *request)
{
    if (!request->part_name)
        return;
    if (request->part_is_file)
        ds_submission_add_image (request->submission,
                                 zchunk_data (request->part),
                                 zchunk_size (request->part));
    else
        ds_submission_set_field (request->submission, request->part_name,
                                 (const char *) zchunk_data (request->part),
                                 zchunk_size (request->part));
    zchunk_destroy (&request->part);
    zstr_free (&request->part_name);
}


//  --------------------------------------------------------------------------
//  Multipart iterator: collects each part's bytes

static enum MHD_Result
s_post_iterator (void *cls,
                 enum MHD_ValueKind kind,
                 const char *key,
                 const char *filename,
                 const char *content_type,
                 const char *transfer_encoding,
                 const char *data,
                 uint64_t offset,
                 size_t size)
{
    (void) kind;
    (void) transfer_encoding;
    request_t *request = (request_t *) cls;
    if (offset == 0) {
        s_end_part (request);
        request->part_name = strdup (key ? key : "");
        request->part_is_file =
            filename
            || (content_type && strncasecmp (content_type, "image/", 6) == 0)
            || streq (request->part_name, "images")
            || streq (request->part_name, "image");
        request->part = zchunk_new (NULL, size ? size : 1);
    }
    if (size && request->part)
        zchunk_extend (request->part, data, size);
    return MHD_YES;
}


//  --------------------------------------------------------------------------
//  Status requests that wait for their task to end. Each waits in the list
//  of its task id; the gateway is subscribed to the ids that have a list.

//  Note the earliest time the loop must check the waiters

static void
s_wake_at (gateway_t *self, int64_t when)
{
    if (!self->wake_at || when < self->wake_at)
        self->wake_at = when;
}

//  Suspend a status request until its task ends or wait_s pass

static void
s_wait_begin (gateway_t *self,
              request_t *request,
              struct MHD_Connection *connection,
              const char *task_id,
              int wait_s)
{
    int64_t now = zclock_mono ();
    request->wait_id = strdup (task_id);
    request->wait_until = now + (int64_t) wait_s * 1000;
    request->recheck_at = now + GATEWAY_RECHECK_MS;
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->waiting, task_id);
    if (!list) {
        list = zlistx_new ();
        zhashx_insert (self->waiting, task_id, list);
        zsock_set_subscribe (self->states, task_id);
    }
    request->wait_handle = zlistx_add_end (list, request);
    self->waiters++;
    s_wake_at (self, request->wait_until < request->recheck_at
                         ? request->wait_until
                         : request->recheck_at);
    request->connection = connection;
    request->suspended = true;
    MHD_suspend_connection (connection);
}

//  Take a request off its task's list (the last one unsubscribes)

static void
s_wait_end (gateway_t *self, request_t *request)
{
    zlistx_t *list =
        (zlistx_t *) zhashx_lookup (self->waiting, request->wait_id);
    assert (list);
    zlistx_delete (list, request->wait_handle);
    if (zlistx_size (list) == 0) {
        zsock_set_unsubscribe (self->states, request->wait_id);
        zhashx_delete (self->waiting, request->wait_id);
    }
    self->waiters--;
    zstr_free (&request->wait_id);
}

//  Answer a waiting request with its task's status as the store has it now

static void
s_wait_answer (gateway_t *self, request_t *request)
{
    request->answer =
        s_status_json (self, &self->http, request->wait_id, &request->status);
    s_wait_end (self, request);
    request->answered = true;
    MHD_resume_connection (request->connection);
    self->resumed++;
}

//  A task ended: answer every request waiting for it

static void
s_wait_ended (gateway_t *self, const char *task_id)
{
    zlistx_t *list;
    while ((list = (zlistx_t *) zhashx_lookup (self->waiting, task_id)))
        s_wait_answer (self, (request_t *) zlistx_first (list));
}

//  Answer the requests whose wait is over and those whose task the store
//  says has ended (a STATE sent before the subscription reached the sink
//  never comes); with all, answer every one (the gateway is stopping)

static void
s_wait_check (gateway_t *self, bool all)
{
    int64_t now = zclock_mono ();
    self->wake_at = 0;
    zlistx_t *due = zlistx_new ();
    zlistx_t *list = (zlistx_t *) zhashx_first (self->waiting);
    for (; list; list = (zlistx_t *) zhashx_next (self->waiting)) {
        request_t *request = (request_t *) zlistx_first (list);
        for (; request; request = (request_t *) zlistx_next (list)) {
            if (!all && now >= request->recheck_at
                && now < request->wait_until) {
                char *state = ds_store_task_state (
                    self->store, request->wait_id, NULL, NULL);
                if (state && !ds_util_is_terminal (state))
                    request->recheck_at = now + GATEWAY_RECHECK_MS;
                else
                    request->wait_until = now;
                zstr_free (&state);
            }
            if (all || now >= request->wait_until)
                zlistx_add_end (due, request);
            else
                s_wake_at (self, request->wait_until < request->recheck_at
                                     ? request->wait_until
                                     : request->recheck_at);
        }
    }
    request_t *request;
    while ((request = (request_t *) zlistx_detach (due, NULL)))
        s_wait_answer (self, request);
    zlistx_destroy (&due);
}

//  Take in the STATEs of waited tasks; the terminal ones answer them

static void
s_states (gateway_t *self)
{
    zmsg_t *msg;
    while ((msg = zmsg_recv (self->states))) {  //  rcvtimeo is 0
        if (ds_proto_decode_msg (self->state, msg, DS_PROTO_STATE) == 0
            && ds_util_is_terminal (ds_proto_status (self->state)))
            s_wait_ended (self, ds_proto_task_id (self->state));
        zmsg_destroy (&msg);
    }
}


//  --------------------------------------------------------------------------
//  Free a request when its connection is done with it

static void
s_request_completed (void *cls,
                     struct MHD_Connection *connection,
                     void **req_cls,
                     enum MHD_RequestTerminationCode code)
{
    gateway_t *self = (gateway_t *) cls;
    (void) connection;
    (void) code;
    request_t *request = (request_t *) *req_cls;
    if (!request)
        return;
    if (request->wait_id)
        s_wait_end (self, request);
    if (request->post)
        MHD_destroy_post_processor (request->post);
    ds_submission_destroy (&request->submission);
    zchunk_destroy (&request->part);
    zstr_free (&request->part_name);
    json_decref (request->answer);
    zstr_free (&request->task_id);
    assert (!request->wait_id);
    free (request->body);
    free (request);
    *req_cls = NULL;
}


//  --------------------------------------------------------------------------
//  The wait a status request asks for: ?wait=SECONDS, a whole number from
//  0 to GATEWAY_MAX_WAIT_S. Returns 0 and sets *wait_s (0 if not asked),
//  or -1 if the argument is not such a number.

static int
s_wait_arg (struct MHD_Connection *connection, int *wait_s)
{
    const char *text =
        MHD_lookup_connection_value (connection, MHD_GET_ARGUMENT_KIND, "wait");
    *wait_s = 0;
    if (!text)
        return 0;
    size_t length = strlen (text);
    if (length == 0 || length > 2 || strspn (text, "0123456789") != length
        || atoi (text) > GATEWAY_MAX_WAIT_S)
        return -1;
    *wait_s = atoi (text);
    return 0;
}


//  --------------------------------------------------------------------------
//  GET /api/task_status/{task_id}[?wait=SECONDS]: the status now, or once
//  the task has ended or the wait is over

static enum MHD_Result
s_status (gateway_t *self,
          struct MHD_Connection *connection,
          const char *task_id,
          void **req_cls)
{
    int wait_s;
    if (s_wait_arg (connection, &wait_s)) {
        char message [96];
        snprintf (message, sizeof (message),
                  "wait must be a whole number of seconds from 0 to %d",
                  GATEWAY_MAX_WAIT_S);
        return s_error (self, connection, MHD_HTTP_BAD_REQUEST, "BAD_WAIT",
                        message, NULL, NULL);
    }
    unsigned int status;
    json_t *body = s_status_json (self, &self->http, task_id, &status);
    if (wait_s == 0 || status != MHD_HTTP_OK || self->stopping
        || ds_util_is_terminal (
            json_string_value (json_object_get (body, "status"))))
        return s_respond (connection, status, body, NULL, NULL);
    if (self->waiters >= self->max_waiting) {
        //  Answered as a wait that ran out: the client asks again. Logged
        //  at the 1st, 2nd, 4th, 8th... time
        uint64_t full = ++self->waits_full;
        if ((full & (full - 1)) == 0)
            zsys_warning ("ds_gateway: WAITS-FULL waiting=%zu answered-at-"
                          "once=%" PRIu64 " (max-waiting)",
                          self->waiters, full);
        return s_respond (connection, status, body, MHD_HTTP_HEADER_RETRY_AFTER,
                          "1");
    }
    json_decref (body);
    request_t *request = (request_t *) *req_cls;
    assert (request && request->bodiless);
    s_wait_begin (self, request, connection, task_id, wait_s);
    return MHD_YES;
}


//  --------------------------------------------------------------------------
//  DELETE /api/tasks/{task_id}: cancel a pending or running task

static enum MHD_Result
s_cancel (gateway_t *self,
          struct MHD_Connection *connection,
          const char *task_id)
{
    //  Commit what this round took in first: the cancel is its own write,
    //  committed before the answer and the sink's CANCELLED
    s_flush (self);
    unsigned int status;
    json_t *body = s_cancel_json (self, &self->http, task_id, &status);
    return s_respond (connection, status, body, NULL, NULL);
}


//  --------------------------------------------------------------------------
//  First call of a POST: check length and type, set up the request

static enum MHD_Result
s_begin_post (gateway_t *self,
              struct MHD_Connection *connection,
              const char *task_type,
              void **req_cls)
{
    const char *length = MHD_lookup_connection_value (
        connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (length && strtoull (length, NULL, 10) > self->max_body) {
        char message [128];
        snprintf (message, sizeof (message),
                  "the body is over the limit of "
                  "%zu bytes",
                  self->max_body);
        return s_error (self, connection, MHD_HTTP_CONTENT_TOO_LARGE,
                        "BODY_TOO_LARGE", message, NULL, NULL);
    }
    //  Backpressure: past the queue bound, refuse before reading the body
    char message [128];
    if (s_queue_full (self, message, sizeof (message)))
        return s_error (self, connection, MHD_HTTP_SERVICE_UNAVAILABLE,
                        "QUEUE_FULL", message, MHD_HTTP_HEADER_RETRY_AFTER,
                        RETRY_AFTER_S);
    const char *type = MHD_lookup_connection_value (
        connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    bool json = type && strncasecmp (type, "application/json", 16) == 0;
    bool multipart = type && strncasecmp (type, "multipart/form-data", 19) == 0;
    if (!json && !multipart)
        return s_error (self, connection, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                        "UNSUPPORTED_MEDIA_TYPE",
                        "send application/json or "
                        "multipart/form-data",
                        NULL, NULL);
    request_t *request = (request_t *) zmalloc (sizeof (request_t));
    assert (request);
    request->submission = ds_submission_new (task_type, &self->limits);
    const char *key = MHD_lookup_connection_value (connection, MHD_HEADER_KIND,
                                                   "Idempotency-Key");
    if (key)
        ds_submission_set_idempotency_key (request->submission, key);
    if (multipart) {
        request->post = MHD_create_post_processor (
            connection, GATEWAY_POST_BUFFER, s_post_iterator, request);
        if (!request->post) {
            ds_submission_destroy (&request->submission);
            free (request);
            return s_error (self, connection, MHD_HTTP_BAD_REQUEST,
                            "BAD_MULTIPART",
                            "the multipart body has no "
                            "boundary",
                            NULL, NULL);
        }
    }
    *req_cls = request;
    return MHD_YES;
}


//  --------------------------------------------------------------------------
//  Take a piece of a POST body

static void
s_take_body (gateway_t *self, request_t *request, const char *data, size_t size)
{
    request->received += size;
    if (request->received > self->max_body)
        request->too_large = true;
    if (request->too_large)
        return;  //  read and drop the rest, then answer 413
    if (request->post) {
        if (MHD_post_process (request->post, data, size) != MHD_YES)
            ds_submission_reject (request->submission, 400, "BAD_MULTIPART",
                                  "the multipart body is malformed");
        return;
    }
    if (request->body_size + size > request->body_max) {
        size_t wanted =
            request->body_max ? request->body_max * 2 : GATEWAY_BODY_INITIAL;
        while (wanted < request->body_size + size)
            wanted *= 2;
        request->body = (char *) realloc (request->body, wanted);
        assert (request->body);
        request->body_max = wanted;
    }
    memcpy (request->body + request->body_size, data, size);
    request->body_size += size;
}


//  --------------------------------------------------------------------------
//  The whole body is in: validate and accept or reject

static enum MHD_Result
s_end_post (gateway_t *self,
            struct MHD_Connection *connection,
            request_t *request)
{
    if (request->too_large) {
        char message [128];
        snprintf (message, sizeof (message),
                  "the body is over the limit of "
                  "%zu bytes",
                  self->max_body);
        return s_error (self, connection, MHD_HTTP_CONTENT_TOO_LARGE,
                        "BODY_TOO_LARGE", message, NULL, NULL);
    }
    ds_submission_t *submission = request->submission;
    if (request->post)
        s_end_part (request);
    else if (request->body_size >= GATEWAY_PARSE_AWAY && !self->stopping) {
        //  Parsed on the parser thread while the loop serves the others;
        //  suspended, the request is not touched here until it is back
        request->connection = connection;
        request->suspended = true;
        MHD_suspend_connection (connection);
        zsock_send (self->parser, "sp", "PARSE", request);
        self->parsing++;
        return MHD_YES;
    }
    else
        ds_submission_parse_json (
            submission, request->body ? request->body : "", request->body_size);
    return s_join_batch (self, connection, request);
}


//  --------------------------------------------------------------------------
//  The parser thread: parses and checks a large JSON body (jansson's pass
//  over a photograph in base64 is some 100 ms for 7 MB, in which the loop
//  would answer nobody). It owns a request from PARSE until it sends it
//  back PARSED.

static void
s_parser (zsock_t *pipe, void *args)
{
    (void) args;
    zsock_signal (pipe, 0);
    while (true) {
        char *command = NULL;
        void *pointer = NULL;
        if (zsock_recv (pipe, "sp", &command, &pointer))
            break;
        bool parse = streq (command, "PARSE") && pointer;
        zstr_free (&command);
        if (!parse)
            break;  //  $TERM
        request_t *request = (request_t *) pointer;
        ds_submission_parse_json (request->submission, request->body,
                                  request->body_size);
        zsock_send (pipe, "sp", "PARSED", request);
    }
}


//  --------------------------------------------------------------------------
//  A request is back from the parser, still suspended: into the batch, or
//  its error left in it and its connection resumed

static void
s_parsed (gateway_t *self, request_t *request)
{
    self->parsing--;
    request->answer = s_refusal (self, request->submission, &request->status);
    if (!request->answer) {
        s_http_submission (self, request);
        return;
    }
    request->answered = true;
    MHD_resume_connection (request->connection);
    self->resumed++;
}


//  --------------------------------------------------------------------------
//  Take back what the parser has done; wait for all of it if asked

static void
s_take_parsed (gateway_t *self, bool all)
{
    zsock_t *pipe = zactor_sock (self->parser);
    while (self->parsing && (all || (zsock_events (pipe) & ZMQ_POLLIN))) {
        char *command = NULL;
        void *pointer = NULL;
        if (zsock_recv (pipe, "sp", &command, &pointer))
            break;
        zstr_free (&command);
        s_parsed (self, (request_t *) pointer);
    }
}


//  --------------------------------------------------------------------------
//  Take the HTTP API keys (http-api-key: comma-separated, spaces around
//  each ignored); only their SHA-256 is kept. Returns 0, or -1 with
//  reason set.

static int
s_api_keys (gateway_t *self, const char *text, char *reason, size_t size)
{
    char *copy = strdup (text);
    char *save = NULL;
    int rc = 0;
    for (char *key = strtok_r (copy, ",", &save); key && rc == 0;
         key = strtok_r (NULL, ",", &save)) {
        while (*key == ' ')
            key++;
        size_t length = strlen (key);
        while (length && key [length - 1] == ' ')
            key [--length] = 0;
        bool printable = true;
        for (size_t char_nbr = 0; char_nbr < length; char_nbr++)
            printable &= key [char_nbr] > ' ' && key [char_nbr] < 127;
        if (length == 0)
            continue;
        if (!printable || length > GATEWAY_KEY_MAX) {
            snprintf (reason, size,
                      "http-api-key: key %zu is not 1 to %d printable "
                      "characters without spaces",
                      self->key_count + 1, GATEWAY_KEY_MAX);
            rc = -1;
        }
        else if (self->key_count == GATEWAY_MAX_KEYS) {
            snprintf (reason, size, "http-api-key: more than %d keys",
                      GATEWAY_MAX_KEYS);
            rc = -1;
        }
        else
            ds_util_sha256_hex (key, length, self->keys [self->key_count++]);
    }
    if (rc == 0 && *text && self->key_count == 0) {
        snprintf (reason, size, "http-api-key: no key in '%s'", text);
        rc = -1;
    }
    free (copy);
    return rc;
}


//  --------------------------------------------------------------------------
//  Why a request may not use /api/ (keys are configured and it carries
//  none of them), or NULL if it may. Every key is compared, each in
//  constant time, through its SHA-256: neither a key's length nor where
//  it differs shows in the time taken.

static const char *
s_unauthorized (gateway_t *self, struct MHD_Connection *connection)
{
    if (self->key_count == 0)
        return NULL;
    const char *header = MHD_lookup_connection_value (
        connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!header || strncasecmp (header, "Bearer ", 7) != 0)
        return "this gateway needs an API key: Authorization: Bearer KEY";
    const char *token = header + 7;
    while (*token == ' ')
        token++;
    char digest [GATEWAY_SHA256_HEX];
    ds_util_sha256_hex (token, strlen (token), digest);
    int matches = 0;
    for (size_t key_nbr = 0; key_nbr < self->key_count; key_nbr++)
        matches +=
            CRYPTO_memcmp (digest, self->keys [key_nbr], GATEWAY_SHA256_HEX - 1)
            == 0;
    return matches ? NULL : "the API key is not accepted";
}


//  --------------------------------------------------------------------------
//  Answer 401: logged at the 1st, 2nd, 4th, 8th... refusal, so that a
//  client that keeps trying does not fill the log

static enum MHD_Result
s_refuse (gateway_t *self,
          struct MHD_Connection *connection,
          const char *method,
          const char *url,
          const char *reason)
{
    uint64_t refused = ++self->unauthorized;
    if ((refused & (refused - 1)) == 0)
        zsys_warning ("ds_gateway: UNAUTHORIZED method=%s url=%.100s "
                      "reason=\"%s\" refused=%" PRIu64,
                      method, url, reason, refused);
    return s_error (self, connection, MHD_HTTP_UNAUTHORIZED, "UNAUTHORIZED",
                    reason, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                    "Bearer realm=\"docusnap\"");
}


//  --------------------------------------------------------------------------
//  The request handler: route, then receive, then answer

static enum MHD_Result
s_handle (void *cls,
          struct MHD_Connection *connection,
          const char *url,
          const char *method,
          const char *version,
          const char *upload_data,
          size_t *upload_data_size,
          void **req_cls)
{
    (void) version;
    gateway_t *self = (gateway_t *) cls;
    request_t *request = (request_t *) *req_cls;
    if (request && request->suspended)
        return s_answered (connection, request);
    if (request && !request->bodiless) {
        if (*upload_data_size) {
            s_take_body (self, request, upload_data, *upload_data_size);
            *upload_data_size = 0;
            return MHD_YES;
        }
        return s_end_post (self, connection, request);
    }
    bool get = streq (method, MHD_HTTP_METHOD_GET)
               || streq (method, MHD_HTTP_METHOD_HEAD);
    bool post = streq (method, MHD_HTTP_METHOD_POST);
    const char *refusal = !request && strncmp (url, "/api/", 5) == 0
                              ? s_unauthorized (self, connection)
                              : NULL;
    if (refusal)
        return s_refuse (self, connection, method, url, refusal);
    if (!request && !post) {
        //  Answered in a later call, once the request is complete: an
        //  answer in the first call, before libmicrohttpd knows that no
        //  body follows, closes the connection (no keep-alive)
        if (self->verbose)
            zsys_debug ("ds_gateway: REQUEST method=%s url=%.100s", method,
                        url);
        request = (request_t *) zmalloc (sizeof (request_t));
        request->bodiless = true;
        *req_cls = request;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;  //  a body where none belongs: not read
        return MHD_YES;
    }
    if (self->verbose && post)
        zsys_debug ("ds_gateway: REQUEST method=%s url=%.100s", method, url);

    if (streq (url, "/healthz")) {
        if (!get)
            return s_error (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "METHOD_NOT_ALLOWED", "use GET",
                            MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return s_respond (
            connection, MHD_HTTP_OK,
            json_pack ("{s:s, s:s, s:I, s:I}", "status", "ok", "version",
                       DS_VERSION_STRING, "pending",
                       (json_int_t) ds_store_count (self->store, "pending"),
                       "waiting", (json_int_t) self->waiters),
            NULL, NULL);
    }
    if (strncmp (url, STATUS_PREFIX, strlen (STATUS_PREFIX)) == 0) {
        if (!get)
            return s_error (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "METHOD_NOT_ALLOWED", "use GET",
                            MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        return s_status (self, connection, url + strlen (STATUS_PREFIX),
                         req_cls);
    }
    if (strncmp (url, TASKS_PREFIX, strlen (TASKS_PREFIX)) == 0) {
        const char *task_id = url + strlen (TASKS_PREFIX);
        if (streq (method, MHD_HTTP_METHOD_DELETE))
            return s_cancel (self, connection, task_id);
        if (get)
            return s_status (self, connection, task_id, req_cls);
        return s_error (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                        "METHOD_NOT_ALLOWED", "use GET or DELETE",
                        MHD_HTTP_HEADER_ALLOW, "GET, HEAD, DELETE");
    }
    if (strncmp (url, SUBMIT_PREFIX, strlen (SUBMIT_PREFIX)) == 0
        && ds_submission_known_type (url + strlen (SUBMIT_PREFIX))
        && (self->echo || !streq (url + strlen (SUBMIT_PREFIX), "echo"))) {
        if (!post)
            return s_error (self, connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                            "METHOD_NOT_ALLOWED", "use POST",
                            MHD_HTTP_HEADER_ALLOW, "POST");
        return s_begin_post (self, connection, url + strlen (SUBMIT_PREFIX),
                             req_cls);
    }
    return s_error (self, connection, MHD_HTTP_NOT_FOUND, "NOT_FOUND",
                    "no such endpoint; see docs/API.md", NULL, NULL);
}


//  --------------------------------------------------------------------------
//  Start the HTTP daemon on the configured address; returns 0 or -1

static int
s_start_http (gateway_t *self, ds_config_t *config)
{
    const char *bind_address = ds_config_get (config, "http-bind");
    uint16_t port = (uint16_t) ds_config_int (config, "http-port");
    struct sockaddr_storage address;
    memset (&address, 0, sizeof (address));
    socklen_t address_size;
    unsigned int flags =
        MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    if (strchr (bind_address, ':')) {
        struct sockaddr_in6 *ipv6 = (struct sockaddr_in6 *) &address;
        ipv6->sin6_family = AF_INET6;
        ipv6->sin6_port = htons (port);
        if (inet_pton (AF_INET6, bind_address, &ipv6->sin6_addr) != 1)
            return -1;
        address_size = sizeof (*ipv6);
        flags |= MHD_USE_IPv6;
    }
    else {
        struct sockaddr_in *ipv4 = (struct sockaddr_in *) &address;
        ipv4->sin_family = AF_INET;
        ipv4->sin_port = htons (port);
        if (inet_pton (AF_INET, bind_address, &ipv4->sin_addr) != 1)
            return -1;
        address_size = sizeof (*ipv4);
    }
    (void) address_size;
    self->daemon = MHD_start_daemon (
        flags, port, NULL, NULL, s_handle, self, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *) &address, MHD_OPTION_NOTIFY_COMPLETED,
        s_request_completed, self, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int) GATEWAY_CONNECTION_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int) GATEWAY_CONNECTION_TIMEOUT, MHD_OPTION_END);
    return self->daemon ? 0 : -1;
}


//  --------------------------------------------------------------------------
//  Open the store and the sockets to the ventilator and the sink; returns
//  0 or -1

static int
s_open (gateway_t *self,
        ds_config_t *config,
        ds_curve_t *curve,
        const char *db_path)
{
    self->store = ds_service_store (config, db_path);
    if (self->store)
        ds_store_set_durable (self->store, true);
    self->queue = zsock_new (ZMQ_PUSH);
    self->events = zsock_new (ZMQ_PUSH);
    self->states = zsock_new (ZMQ_SUB);
    assert (self->queue && self->events && self->states);
    zsock_set_sndhwm (self->queue, GATEWAY_SNDHWM);
    zsock_set_maxmsgsize (self->states, DS_PROTO_MAX_FRAME);
    zsock_set_rcvtimeo (self->states, 0);
    if (!self->store
        || ds_curve_connect (curve, self->queue,
                             ds_config_get (config, "queue-endpoint"))
        || ds_curve_connect (curve, self->events,
                             ds_config_get (config, "events-endpoint"))
        || ds_curve_connect (curve, self->states,
                             ds_config_get (config, "publish-endpoint")))
        return -1;
    return 0;
}


//  --------------------------------------------------------------------------
//  Close them

static void
s_close (gateway_t *self)
{
    if (self->queue)
        zsock_set_linger (self->queue, 1000);
    zsock_destroy (&self->queue);
    if (self->events)
        zsock_set_linger (self->events, 1000);
    zsock_destroy (&self->events);
    zsock_destroy (&self->states);
    ds_store_destroy (&self->store);
}


//  --------------------------------------------------------------------------
//  Build a submission from a SUBMIT message (validation in ds_submission)

static ds_submission_t *
s_front_submission (gateway_t *self, ds_proto_t *request)
{
    ds_submission_t *submission =
        ds_submission_new (ds_proto_task_type (request), &self->limits);
    char priority [8];
    snprintf (priority, sizeof (priority), "%d", ds_proto_priority (request));
    ds_submission_set_field (submission, "priority", priority,
                             strlen (priority));
    if (*ds_proto_form (request))
        ds_submission_set_field (submission, "form", ds_proto_form (request),
                                 strlen (ds_proto_form (request)));
    if (*ds_proto_file_lib (request))
        ds_submission_set_field (submission, "file_lib",
                                 ds_proto_file_lib (request),
                                 strlen (ds_proto_file_lib (request)));
    if (*ds_proto_idempotency_key (request))
        ds_submission_set_idempotency_key (submission,
                                           ds_proto_idempotency_key (request));
    for (size_t image_nbr = 0; image_nbr < ds_proto_images (request);
         image_nbr++) {
        zchunk_t *image = ds_proto_image (request, image_nbr);
        if (ds_submission_add_image (submission, zchunk_data (image),
                                     zchunk_size (image)))
            break;
    }
    return submission;
}


//  --------------------------------------------------------------------------
//  Send a message without blocking; 0 if sent, else -1 (errno says why),
//  the message destroyed either way

static int
s_send_nowait (zmsg_t **msg_p, zsock_t *socket)
{
    int rc = 0;
    zframe_t *frame;
    while (rc == 0 && (frame = zmsg_pop (*msg_p))) {
        int more = zmsg_size (*msg_p) ? ZFRAME_MORE : 0;
        rc = zframe_send (&frame, socket, more | ZFRAME_DONTWAIT);
        zframe_destroy (&frame);
    }
    int error = errno;
    zmsg_destroy (msg_p);
    errno = error;
    return rc;
}


//  --------------------------------------------------------------------------
//  Deliver an answer and free it: a REPLY to a front door client, or the
//  answer left in a suspended HTTP request, whose connection resumes

static void
s_deliver (gateway_t *self, answer_t **answer_p)
{
    answer_t *answer = *answer_p;
    if (answer->task_id)
        (answer->request ? &self->http : &self->front)->accepted++;
    if (answer->request) {
        request_t *request = answer->request;
        request->status = answer->status;
        request->answer = answer->body;
        request->task_id = answer->task_id;
        request->answered = true;
        MHD_resume_connection (request->connection);
        self->resumed++;
    }
    else {
        ds_proto_t *reply = ds_proto_new (DS_PROTO_REPLY);
        ds_proto_set_request_id (reply, answer->request_id);
        ds_proto_set_status_code (reply, (int) answer->status);
        char *text = json_dumps (answer->body, JSON_COMPACT);
        ds_proto_set_result (reply, text);
        zstr_free (&text);
        json_decref (answer->body);
        zstr_free (&answer->task_id);
        zmsg_t *msg = zmsg_new ();
        zmsg_append (msg, &answer->identity);
        if (answer->delimiter)
            zmsg_append (msg, &answer->delimiter);
        zframe_t *encoded = ds_proto_encode (reply);
        zmsg_append (msg, &encoded);
        //  ROUTER_MANDATORY, and never blocking: a reply to a client that
        //  is gone, or has GATEWAY_SNDHWM replies unread, is logged and
        //  counted, not dropped in silence and not waited for
        if (s_send_nowait (&msg, self->router)) {
            //  Logged at the 1st, 2nd, 4th, 8th... loss: a client that
            //  never reads must not fill the log
            uint64_t lost = ++self->front.lost;
            if ((lost & (lost - 1)) == 0)
                zsys_warning ("ds_gateway: REPLY-LOST request=%s status=%u "
                              "reason=\"%s\" lost=%" PRIu64,
                              answer->request_id, answer->status,
                              errno == EHOSTUNREACH ? "client gone"
                                                    : "client not reading",
                              lost);
        }
        ds_proto_destroy (&reply);
        zstr_free (&answer->request_id);
    }
    free (answer);
    *answer_p = NULL;
}


//  --------------------------------------------------------------------------
//  Log committed tasks: count of them, and their ids, comma-separated

static void
s_log_accepted (const char *ids, size_t count)
{
    if (count)
        zsys_info ("ds_gateway: ACCEPTED tasks=%zu ids=%s", count, ids);
}


//  --------------------------------------------------------------------------
//  Commit the batch, then queue its tasks and deliver its answers. If the
//  commit fails nothing was stored: every acceptance becomes a 503.

static void
s_flush (gateway_t *self)
{
    bool committed = true;
    if (zlistx_size (self->staged)) {
        bool begun = ds_store_begin (self->store) == 0;
        if (!begun)
            zsys_error ("ds_gateway: STORE-FAIL begin error=%s tasks=%zu",
                        ds_store_error (self->store),
                        zlistx_size (self->staged));
        staged_t *staged;
        while ((staged = (staged_t *) zlistx_detach (self->staged, NULL))) {
            s_write_staged (self, staged, begun);
            ds_submission_destroy (&staged->submission);
            zstr_free (&staged->key);
            free (staged);
        }
        if (begun && ds_store_commit (self->store)) {
            committed = false;
            zsys_error ("ds_gateway: STORE-FAIL commit error=%s tasks=%zu",
                        ds_store_error (self->store),
                        zlistx_size (self->announce));
            self->counted_at = 0;  //  recount
        }
    }
    //  Committed: from here on the tasks are the pipeline's. They are
    //  logged GATEWAY_LOG_IDS to a line: every id is in the log, and a
    //  burst of small tasks does not cost a write per task
    char ids [GATEWAY_LOG_IDS * GATEWAY_ID_SIZE + 1] = "";
    char *cursor = ids;
    size_t logged = 0;
    ds_proto_t *queue;
    while ((queue = (ds_proto_t *) zlistx_detach (self->announce, NULL))) {
        if (committed) {
            cursor += snprintf (cursor, GATEWAY_ID_SIZE + 1, "%s%.36s",
                                logged ? "," : "", ds_proto_task_id (queue));
            if (++logged == GATEWAY_LOG_IDS) {
                s_log_accepted (ids, logged);
                logged = 0;
                cursor = ids;
            }
            zframe_t *frame = ds_proto_encode (queue);
            if (zframe_send (&frame, self->queue, ZFRAME_DONTWAIT)) {
                //  Stored but not announced: the ventilator finds it on
                //  restart
                zframe_destroy (&frame);
                zsys_warning ("ds_gateway: QUEUE-FULL task=%s (stored, "
                              "pending)",
                              ds_proto_task_id (queue));
            }
        }
        ds_proto_destroy (&queue);
    }
    s_log_accepted (ids, logged);
    answer_t *answer;
    while ((answer = (answer_t *) zlistx_detach (self->answers, NULL))) {
        if (!committed && answer->task_id) {
            json_decref (answer->body);
            zstr_free (&answer->task_id);
            answer->body = s_unavailable (
                self, answer->request ? &self->http : &self->front,
                &answer->status);
        }
        s_deliver (self, &answer);
    }
}


//  --------------------------------------------------------------------------
//  One request on the ZMQ front door: [identity][empty if REQ][message].
//  A SUBMIT joins the batch; anything else first flushes it, so each
//  client's requests are answered in order.

static void
s_front (gateway_t *self, zmsg_t *msg, ds_proto_t *request)
{
    answer_t *answer = (answer_t *) zmalloc (sizeof (answer_t));
    assert (answer);
    answer->identity = zmsg_pop (msg);
    if (zmsg_size (msg) == 2 && zframe_size (zmsg_first (msg)) == 0)
        answer->delimiter = zmsg_pop (msg);  //  a REQ client's envelope
    answer->status = MHD_HTTP_BAD_REQUEST;
    int rc = ds_proto_decode_msg (request, msg, 0);
    bool is_request = rc == 0 && ds_proto_type (request) >= DS_PROTO_SUBMIT
                      && ds_proto_type (request) != DS_PROTO_REPLY;
    answer->request_id =
        strdup (is_request ? ds_proto_request_id (request) : "");
    if (!is_request) {
        ds_proto_log_rejected (request, "ds_gateway", msg);
        char *message = zsys_sprintf ("not a docusnap request: %s",
                                      rc ? ds_proto_reason (request)
                                         : "SUBMIT, STATUS or CANCEL expected");
        answer->body = s_error_json (self, &self->front, "BAD_FRAME", message);
        zstr_free (&message);
    }
    else if (ds_proto_type (request) == DS_PROTO_SUBMIT) {
        const char *type = ds_proto_task_type (request);
        if (!ds_submission_known_type (type)
            || (streq (type, "echo") && !self->echo)) {
            answer->status = MHD_HTTP_NOT_FOUND;
            answer->body = s_error_json (self, &self->front, "NOT_FOUND",
                                         "no such task type");
        }
        else {
            ds_submission_t *submission = s_front_submission (self, request);
            //  A CURVE client's public key, from the handshake
            const char *client = zframe_meta (zmsg_last (msg), "User-Id");
            s_submit (self, &self->front, &submission,
                      client && *client ? client : NULL, answer);
            ds_submission_destroy (&submission);
        }
    }
    else {
        s_flush (self);
        if (ds_proto_type (request) == DS_PROTO_STATUS)
            answer->body =
                s_status_json (self, &self->front, ds_proto_task_id (request),
                               &answer->status);
        else
            answer->body =
                s_cancel_json (self, &self->front, ds_proto_task_id (request),
                               &answer->status);
    }
    zlistx_add_end (self->answers, answer);
}


//  --------------------------------------------------------------------------
//  An HTTP submission handed off by the daemon's thread joins the batch

static void
s_http_submission (gateway_t *self, request_t *request)
{
    answer_t *answer = (answer_t *) zmalloc (sizeof (answer_t));
    assert (answer);
    answer->request = request;
    s_submit (self, &self->http, &request->submission, NULL, answer);
    zlistx_add_end (self->answers, answer);
}


//  --------------------------------------------------------------------------
//  Take in what is waiting on the front door, up to one batch

static void
s_gather (gateway_t *self, ds_proto_t *request)
{
    zmsg_t *msg;
    for (size_t taken = 0;
         taken < GATEWAY_BATCH && (msg = zmsg_recv (self->router)); taken++) {
        s_front (self, msg, request);
        zmsg_destroy (&msg);
    }
}


//  --------------------------------------------------------------------------
//  Run the HTTP daemon without blocking: handle what is ready on its
//  sockets, commit what that took in, and again while the commit resumed
//  connections, so their answers go out now. The store's write lock is
//  never held between rounds of the loop.

static void
s_run_http (gateway_t *self)
{
    //  Stopping, no submission suspends any more: run until every resumed
    //  connection was handled (libmicrohttpd must not stop with one
    //  suspended)
    for (int round = 0; round < GATEWAY_HTTP_ROUNDS || self->stopping;
         round++) {
        self->resumed = 0;
        MHD_run (self->daemon);
        s_flush (self);
        if (!self->resumed)
            break;
    }
}


//  --------------------------------------------------------------------------
//  The actor

void
ds_gateway (zsock_t *pipe, void *args)
{
    ds_config_t *config = (ds_config_t *) args;
    gateway_t self = {0};
    self.verbose = ds_config_bool (config, "verbose");
    self.max_body = (size_t) ds_config_int (config, "max-body");
    self.limits.max_images = (size_t) ds_config_int (config, "max-images");
    self.limits.max_image_bytes =
        (size_t) ds_config_int (config, "max-image-bytes");
    self.limits.max_pixels = ds_config_int (config, "max-pixels");
    zsock_signal (pipe, 0);
    ds_image_quiet ();

    char *db_path = ds_service_db_path (config);
    self.max_queue = ds_config_int (config, "max-queue");
    self.max_waiting = (size_t) ds_config_int (config, "max-waiting");
    self.echo = ds_config_bool (config, "enable-echo");
    const char *queue_endpoint = ds_config_get (config, "queue-endpoint");
    const char *front_endpoint = ds_config_get (config, "front-endpoint");
    self.router = zsock_new (ZMQ_ROUTER);
    assert (self.router);
    zsock_set_maxmsgsize (self.router, DS_PROTO_MAX_FRAME);
    zsock_set_rcvtimeo (self.router, 0);
    //  A burst of answers after a commit can pass the default mark of
    //  1 000 for one busy client; past the mark an answer is lost (logged)
    zsock_set_sndhwm (self.router, GATEWAY_SNDHWM);
    zsock_set_router_mandatory (self.router, 1);
    self.answers = zlistx_new ();
    self.staged = zlistx_new ();
    self.announce = zlistx_new ();
    self.waiting = zhashx_new ();
    zhashx_set_destructor (self.waiting,
                           (zhashx_destructor_fn *) zlistx_destroy);
    self.state = ds_proto_new (0);
    char key_reason [128] = "";
    int keys_rc = s_api_keys (&self, ds_config_get (config, "http-api-key"),
                              key_reason, sizeof (key_reason));
    ds_curve_t *curve =
        keys_rc == 0 ? ds_service_curve (pipe, config, "ds_gateway") : NULL;
    int open_rc = curve ? s_open (&self, config, curve, db_path) : -1;
    bool started = false;
    if (keys_rc)
        ds_service_failed (pipe, key_reason);
    else if (!curve)
        ;  //  FAILED sent
    else if (open_rc)
        ds_service_failed (pipe, "cannot open the database, or bad "
                                 "queue-endpoint, events-endpoint or "
                                 "publish-endpoint");
    else if (*front_endpoint
             && ds_curve_bind (curve, self.router, front_endpoint) < 0) {
        char *reason = zsys_sprintf ("cannot bind %s: %s", front_endpoint,
                                     zmq_strerror (zmq_errno ()));
        ds_service_failed (pipe, reason);
        zstr_free (&reason);
    }
    else if (s_start_http (&self, config)) {
        char *reason = zsys_sprintf (
            "cannot listen on %s:%s (%s)", ds_config_get (config, "http-bind"),
            ds_config_get (config, "http-port"), strerror (errno));
        ds_service_failed (pipe, reason);
        zstr_free (&reason);
    }
    else {
        started = true;
        const union MHD_DaemonInfo *info =
            MHD_get_daemon_info (self.daemon, MHD_DAEMON_INFO_BIND_PORT);
        char *line = zsys_sprintf ("http=http://%s:%u",
                                   ds_config_get (config, "http-bind"),
                                   (unsigned int) info->port);
        char *front_line = zsys_sprintf (
            "front=%s", *front_endpoint ? zsock_endpoint (self.router) : "");
        const char *lines [] = {line, front_line, NULL};
        ds_service_ready (pipe, lines);
        zsys_info ("ds_gateway: STARTED db=%s %s %s queue=%s publish=%s "
                   "api-keys=%zu",
                   db_path, line, front_line, queue_endpoint,
                   ds_config_get (config, "publish-endpoint"), self.key_count);
        const char *bind_address = ds_config_get (config, "http-bind");
        if (self.key_count == 0 && !streq (bind_address, "127.0.0.1")
            && !streq (bind_address, "::1"))
            zsys_notice ("ds_gateway: HTTP API open to anyone who reaches "
                         "%s: set http-api-key to require a key",
                         bind_address);
        zstr_free (&line);
        zstr_free (&front_line);
        //  One loop: the daemon's epoll descriptor, the front door and the
        //  pipe; after each round, one commit for all it took in
        ds_proto_t *request = ds_proto_new (0);
        const union MHD_DaemonInfo *epoll_info =
            MHD_get_daemon_info (self.daemon, MHD_DAEMON_INFO_EPOLL_FD);
        self.parser = zactor_new (s_parser, NULL);
        assert (self.parser);
        zmq_pollitem_t items [] = {
            {zsock_resolve (pipe), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self.router), 0, ZMQ_POLLIN, 0},
            {NULL, epoll_info->epoll_fd, ZMQ_POLLIN, 0},
            {zsock_resolve (self.parser), 0, ZMQ_POLLIN, 0},
            {zsock_resolve (self.states), 0, ZMQ_POLLIN, 0}};
        while (true) {
            MHD_UNSIGNED_LONG_LONG http_timeout;
            long timeout = GATEWAY_TICK_MS;
            if (MHD_get_timeout (self.daemon, &http_timeout) == MHD_YES
                && http_timeout < (MHD_UNSIGNED_LONG_LONG) timeout)
                timeout = (long) http_timeout;
            if (self.wake_at) {
                int64_t until = self.wake_at - zclock_mono ();
                if (until < timeout)
                    timeout = until > 0 ? (long) until : 0;
            }
            if (zmq_poll (items, 5, timeout) == -1 && zmq_errno () != EINTR)
                break;
            if (items [0].revents & ZMQ_POLLIN) {
                char *command = zstr_recv (pipe);
                bool term = !command || streq (command, "$TERM");
                zstr_free (&command);
                if (term)
                    break;
            }
            if (items [1].revents & ZMQ_POLLIN) {
                s_gather (&self, request);
                s_flush (&self);
            }
            if (items [4].revents & ZMQ_POLLIN)
                s_states (&self);
            if (self.wake_at && zclock_mono () >= self.wake_at)
                s_wait_check (&self, false);
            s_take_parsed (&self, false);
            s_run_http (&self);
        }
        //  Everything taken in was answered (what the parser still has is
        //  answered 503, status requests still waiting with the status as
        //  it is); send what is still queued
        self.stopping = true;
        s_take_parsed (&self, true);
        s_wait_check (&self, true);
        s_run_http (&self);
        ds_proto_destroy (&request);
        MHD_stop_daemon (self.daemon);
        zactor_destroy (&self.parser);
        zsys_info ("ds_gateway: STOPPED accepted=%" PRIu64 " rejected=%" PRIu64
                   " unauthorized=%" PRIu64 " (http), accepted=%" PRIu64
                   " rejected=%" PRIu64 " replies-lost=%" PRIu64
                   " (front door) waits-full=%" PRIu64 " lock-waits=%" PRIu64,
                   self.http.accepted, self.http.rejected, self.unauthorized,
                   self.front.accepted, self.front.rejected, self.front.lost,
                   self.waits_full, ds_store_busy_waits (self.store));
    }
    zsock_destroy (&self.router);
    zlistx_destroy (&self.answers);
    zlistx_destroy (&self.staged);
    zlistx_destroy (&self.announce);
    assert (self.waiters == 0);
    zhashx_destroy (&self.waiting);
    ds_proto_destroy (&self.state);
    s_close (&self);
    ds_curve_destroy (&curve);
    zstr_free (&db_path);
    if (!started)
        ds_service_await_term (pipe);
}
