/*  =========================================================================
    ds_worker - the worker actor: OCR threads and extraction

    @header
    One loop owns everything: the task socket, the event socket, the OCR
    threads' pipes and the jobs in flight. A page goes to an idle OCR
    thread with a borrowed pointer to its bytes; the job that owns the
    bytes lives until every page has come back. Nothing is shared between
    threads except through those messages.
    @end
    =========================================================================
*/

#include "ds_worker_classes.h"

#define WORKER_EVENTS_SNDHWM 10000
#define WORKER_TASKS_RCVHWM 256  //  the ventilator's send mark, its burst
#define WORKER_POLL_MS 1000
#define WORKER_LLM_SOCKETS 1024   //  LLM connections polled, at most
#define WORKER_RESEND_MS 2000     //  resend an unacknowledged result after
#define WORKER_UNACKED_MAX 10000  //  results kept for resending, at most
#define WORKER_TASK_BURST 64      //  tasks taken per loop, at most

//  One task in flight

typedef struct {
    ds_proto_t *task;               //  the TASK, owns the image bytes
    const ds_strategy_t *strategy;  //  its type's strategy
    json_t *pages;                  //  {"text", "confidence"} per page
    size_t remaining;               //  pages not yet back from OCR
    char *error;                    //  first OCR error, or NULL
    int64_t started;                //  monotonic ms when it arrived
    int64_t ocr_done;               //  monotonic ms its pages were read
    bool announced;                 //  STARTED sent, its STATEs followed
    uint32_t generation;            //  tells this job from the slot's last
    char *text;                     //  page texts joined, once OCR is done
    json_t *form;                   //  the form to fill, or NULL
    json_t *file_lib;               //  the user's file library, or NULL
    json_t *messages;               //  LLM conversation, NULL offline
    bool llm;                       //  waiting for the LLM
    bool repaired;                  //  the one repair request was sent
    bool abandoned;                 //  ended elsewhere (e.g. cancelled)
} job_t;

//  Structure of the actor's state

typedef struct {
    zsock_t *pipe;         //  actor pipe
    zsock_t *tasks;        //  PULL, connected: TASK from ventilator
    zsock_t *events;       //  PUSH, connected: EVENT to sink
    zactor_t **ocr;        //  OCR threads
    bool *ocr_busy;        //  which OCR threads hold a page
    size_t ocr_count;      //  number of OCR threads
    job_t *jobs;           //  job slots
    size_t capacity;       //  job slots in all
    size_t in_flight;      //  job slots in use
    zlistx_t *waiting;     //  pages for OCR: (slot << 16 | page) + 1
    ds_rules_t *rules;     //  offline extraction rules
    ds_llm_t *llm;         //  LLM client, NULL for offline extraction
    ds_prompt_t *prompts;  //  LLM prompts, with llm
    size_t llm_jobs;       //  jobs waiting for the LLM
    size_t ocr_room;       //  jobs before the LLM stage, at most
    uint32_t generation;   //  counter for job generations
    ds_proto_t *message;   //  reusable decoded message
    char *worker_id;       //  our name in events
    bool verbose;          //  log each task
    bool draining;         //  $TERM received: take no more tasks
    zsock_t *states;       //  SUB, connected: the sink's STATE stream
    zhash_t *unacked;      //  terminal EVENT frames (zframe_t) by task id,
                           //  until the sink publishes the task's end
    zhash_t *sent_at;      //  mono ms each unacked frame was last sent
    int64_t heartbeat_ms;  //  interval between heartbeats
    int64_t drain_ms;      //  longest wait for held tasks on $TERM
    bool echo;             //  run the benchmark's echo tasks
    uint64_t completed;    //  tasks that ended with a result
    uint64_t failed;       //  tasks that ended with an error
    uint64_t rejected;     //  malformed frames
} worker_t;

//  The unacked table is czmq's zhash, not zhashx: zhashx doubles its table
//  whenever a lookup walks a long chain, and looking up ids that are not
//  there (every new task) does that by chance: 16 MB against 1 MB for
//  10 000 ids (WORKER_UNACKED_MAX), as in the ventilator's leases

static void
s_frame_free (void *item)
{
    zframe_t *frame = (zframe_t *) item;
    zframe_destroy (&frame);
}


//  --------------------------------------------------------------------------
//  Send an event for a task

static void
s_send_event (worker_t *self,
              ds_proto_t *task,
              int event,
              const char *result,
              const char *code,
              const char *text,
              bool keep)
{
    ds_proto_t *message = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (message, ds_proto_task_id (task));
    ds_proto_set_event (message, event);
    ds_proto_set_worker (message, self->worker_id);
    ds_proto_set_attempt (message, ds_proto_attempt (task));
    ds_proto_set_time_ms (message, ds_util_now_ms ());
    if (result)
        ds_proto_set_result (message, result);
    if (code)
        ds_proto_set_error (message, code, text);
    zframe_t *frame = ds_proto_encode (message);
    if (keep) {
        //  Kept until the sink says the task ended: a sink that dies
        //  before committing it gets it again
        if (zhash_size (self->unacked) >= WORKER_UNACKED_MAX)
            zsys_warning ("ds_worker: UNACKED-FULL task=%s not kept for "
                          "resending",
                          ds_proto_task_id (task));
        else {
            zhash_update (self->unacked, ds_proto_task_id (task),
                          zframe_dup (frame));
            zhash_freefn (self->unacked, ds_proto_task_id (task), s_frame_free);
            zhash_update (self->sent_at, ds_proto_task_id (task),
                          (void *) (intptr_t) zclock_mono ());
        }
    }
    if (zframe_send (&frame, self->events, 0))
        zsys_error ("ds_worker: EVENT-SEND-FAIL task=%s event=%d",
                    ds_proto_task_id (task), event);
    zframe_destroy (&frame);
    ds_proto_destroy (&message);
}


//  --------------------------------------------------------------------------
//  Send a heartbeat for every task held; resend results not yet committed

static void
s_heartbeat (worker_t *self)
{
    for (size_t slot = 0; slot < self->capacity; slot++)
        if (self->jobs [slot].task)
            s_send_event (self, self->jobs [slot].task, DS_EVENT_HEARTBEAT,
                          NULL, NULL, NULL, false);
    int64_t now = zclock_mono ();
    zframe_t *frame = (zframe_t *) zhash_first (self->unacked);
    while (frame) {
        const char *task_id = zhash_cursor (self->unacked);
        int64_t sent =
            (int64_t) (intptr_t) zhash_lookup (self->sent_at, task_id);
        if (now - sent >= WORKER_RESEND_MS) {
            zframe_t *copy = zframe_dup (frame);
            zframe_send (&copy, self->events, 0);
            zframe_destroy (&copy);
            zhash_update (self->sent_at, task_id, (void *) (intptr_t) now);
            if (self->verbose)
                zsys_debug ("ds_worker: RESENT task=%s", task_id);
        }
        frame = (zframe_t *) zhash_next (self->unacked);
    }
}


//  --------------------------------------------------------------------------
//  End a task with an error; keep the event for resending if the task was
//  announced (see s_announce)

static void
s_fail (worker_t *self,
        ds_proto_t *task,
        const char *code,
        const char *text,
        bool keep)
{
    zsys_warning ("ds_worker: TASK-FAILED task=%s code=%s message=\"%s\"",
                  ds_proto_task_id (task), code, text);
    s_send_event (self, task, DS_EVENT_FAILED, NULL, code, text, keep);
    self->failed++;
}


//  --------------------------------------------------------------------------
//  Parse an optional JSON text field; NULL when empty or not an object

static json_t *
s_parse_object (const char *text)
{
    if (!*text)
        return NULL;
    json_t *value = json_loads (text, JSON_REJECT_DUPLICATES, NULL);
    if (value && !json_is_object (value)) {
        json_decref (value);
        value = NULL;
    }
    return value;
}


//  --------------------------------------------------------------------------
//  Free a job's slot

static void
s_release (worker_t *self, size_t slot)
{
    job_t *job = &self->jobs [slot];
    if (job->llm) {
        self->llm_jobs--;
        ds_llm_cancel (self->llm, (uint64_t) job->generation << 16 | slot);
    }
    //  Keep listening for the task's end while its result is unacked
    if (job->announced
        && !zhash_lookup (self->unacked, ds_proto_task_id (job->task)))
        zsock_set_unsubscribe (self->states, ds_proto_task_id (job->task));
    ds_proto_destroy (&job->task);
    json_decref (job->pages);
    json_decref (job->form);
    json_decref (job->file_lib);
    json_decref (job->messages);
    zstr_free (&job->error);
    zstr_free (&job->text);
    memset (job, 0, sizeof (job_t));
    self->in_flight--;
}


//  --------------------------------------------------------------------------
//  The strategies' view of a job

static ds_input_t
s_input (worker_t *self, job_t *job)
{
    ds_input_t input = {0};
    input.pages = job->pages;
    input.text = job->text;
    input.form = job->form;
    input.file_lib = job->file_lib;
    input.rules = self->rules;
    return input;
}


//  --------------------------------------------------------------------------
//  Send a job's result (takes ownership of result) and free the slot

static void
s_deliver (worker_t *self, size_t slot, json_t *result)
{
    job_t *job = &self->jobs [slot];
    //  Where the time went, in this worker: OCR (with the wait for an OCR
    //  thread) and the LLM (with retries and the repair)
    int64_t now = zclock_mono ();
    json_object_set_new (
        result, "timing",
        json_pack ("{s:I, s:I}", "ocr_ms",
                   (json_int_t) (job->ocr_done - job->started), "llm_ms",
                   (json_int_t) (job->llm ? now - job->ocr_done : 0)));
    char *dump = json_dumps (result, JSON_COMPACT);
    json_decref (result);
    if (dump && strlen (dump) <= DS_PROTO_MAX_TEXT) {
        s_send_event (self, job->task, DS_EVENT_RESULT, dump, NULL, NULL,
                      job->announced);
        self->completed++;
        //  A task that ended in the step that took it (echo, offline form
        //  filling) is logged only when verbose: at thousands a second a
        //  line each was a fifth of this worker's time
        if (job->announced || self->verbose)
            zsys_info ("ds_worker: TASK-DONE task=%s type=%s pages=%zu "
                       "extractor=%s ms=%" PRId64,
                       ds_proto_task_id (job->task), job->strategy->name,
                       json_array_size (job->pages),
                       self->llm ? "llm" : "offline",
                       zclock_mono () - job->started);
    }
    else
        s_fail (self, job->task, "EXTRACT_FAILED",
                "the result is too large to send", job->announced);
    zstr_free (&dump);
    s_release (self, slot);
}


//  --------------------------------------------------------------------------
//  Ask the LLM for a job's result

static void
s_llm_ask (worker_t *self, size_t slot)
{
    job_t *job = &self->jobs [slot];
    json_t *schema = job->strategy->llm_schema ();
    uint64_t id = (uint64_t) job->generation << 16 | slot;
    ds_llm_request (self->llm, id, job->messages, schema);
    json_decref (schema);
    if (!job->llm) {
        job->llm = true;
        self->llm_jobs++;
    }
}


//  --------------------------------------------------------------------------
//  OCR is done: extract offline, or hand over to the LLM

static void
s_ocr_done (worker_t *self, size_t slot)
{
    job_t *job = &self->jobs [slot];
    job->ocr_done = zclock_mono ();
    if (job->abandoned) {
        zsys_info ("ds_worker: ABANDONED task=%s (ended elsewhere)",
                   ds_proto_task_id (job->task));
        s_release (self, slot);
        return;
    }
    if (job->error) {
        s_fail (self, job->task, "OCR_FAILED", job->error, job->announced);
        s_release (self, slot);
        return;
    }
    //  Join page texts with blank lines
    job->text = strdup ("");
    size_t page_nbr;
    json_t *page;
    json_array_foreach (job->pages, page_nbr, page)
    {
        const char *page_text =
            json_string_value (json_object_get (page, "text"));
        char *joined =
            zsys_sprintf ("%s%s%s", job->text, page_nbr ? "\n\n" : "",
                          page_text ? page_text : "");
        zstr_free (&job->text);
        job->text = joined;
    }
    job->form = s_parse_object (ds_proto_form (job->task));
    job->file_lib = s_parse_object (ds_proto_file_lib (job->task));
    ds_input_t input = s_input (self, job);
    if (self->llm && job->strategy->llm_data) {
        json_t *data = job->strategy->llm_data (&input);
        job->messages =
            ds_prompt_messages (self->prompts, job->strategy->name, data);
        json_decref (data);
        s_llm_ask (self, slot);
        return;
    }
    char *error = NULL;
    json_t *result = job->strategy->offline (&input, &error);
    if (result) {
        json_object_set_new (result, "extractor", json_string ("offline"));
        s_deliver (self, slot, result);
    }
    else {
        s_fail (self, job->task, "EXTRACT_FAILED", error, job->announced);
        s_release (self, slot);
    }
    zstr_free (&error);
}


//  --------------------------------------------------------------------------
//  An LLM call ended: check the reply, repair once, deliver or fail

static void
s_llm_reply (worker_t *self, ds_llm_reply_t *reply)
{
    size_t slot = (size_t) (reply->id & 0xffff);
    job_t *job = slot < self->capacity ? &self->jobs [slot] : NULL;
    if (!job || !job->task || !job->llm
        || job->generation != (uint32_t) (reply->id >> 16))
        return;  //  the job is gone; nothing to do
    if (!reply->ok) {
        s_fail (self, job->task, reply->code, reply->message, job->announced);
        s_release (self, slot);
        return;
    }
    char *error = NULL;
    json_t *parsed = ds_prompt_parse_reply (reply->content, &error);
    json_t *result = NULL;
    if (parsed) {
        ds_input_t input = s_input (self, job);
        result = job->strategy->llm_result (parsed, &input, &error);
        json_decref (parsed);
    }
    if (result) {
        json_object_set_new (result, "extractor", json_string ("llm"));
        json_object_set_new (result, "model",
                             json_string (ds_llm_model (self->llm)));
        json_object_set_new (
            result, "prompt_hash",
            json_string (ds_prompt_hash (self->prompts, job->strategy->name)));
        s_deliver (self, slot, result);
    }
    else if (!job->repaired) {
        //  One repair: show the model its reply and what was wrong
        zsys_notice ("ds_worker: LLM-REPAIR task=%s reason=\"%s\"",
                     ds_proto_task_id (job->task), error);
        char *request = zsys_sprintf (
            "Your reply was not accepted: %s. Reply again with only the "
            "corrected JSON object, as the instructions describe.",
            error);
        json_array_append_new (job->messages,
                               json_pack ("{s:s, s:s}", "role", "assistant",
                                          "content", reply->content));
        json_array_append_new (
            job->messages,
            json_pack ("{s:s, s:s}", "role", "user", "content", request));
        zstr_free (&request);
        job->repaired = true;
        s_llm_ask (self, slot);
    }
    else {
        char *message = zsys_sprintf ("the LLM's reply is unusable after one "
                                      "repair: %s",
                                      error);
        s_fail (self, job->task, "LLM_BAD_OUTPUT", message, job->announced);
        zstr_free (&message);
        s_release (self, slot);
    }
    zstr_free (&error);
}


//  --------------------------------------------------------------------------
//  Give waiting pages to idle OCR threads

static void
s_feed_ocr (worker_t *self)
{
    for (size_t thread_nbr = 0; thread_nbr < self->ocr_count; thread_nbr++) {
        if (self->ocr_busy [thread_nbr] || !zlistx_size (self->waiting))
            continue;
        uintptr_t ticket = (uintptr_t) zlistx_detach (self->waiting, NULL) - 1;
        uint32_t slot = (uint32_t) (ticket >> 16);
        uint32_t page = (uint32_t) (ticket & 0xffff);
        zchunk_t *image = ds_proto_image (self->jobs [slot].task, page);
        assert (image);
        zsock_send (self->ocr [thread_nbr], "s44p8", "PAGE", slot, page,
                    zchunk_data (image), (uint64_t) zchunk_size (image));
        self->ocr_busy [thread_nbr] = true;
    }
}


//  --------------------------------------------------------------------------
//  True if the worker can take one more task: a free slot, and room before
//  the LLM stage

static bool
s_room (worker_t *self)
{
    return !self->draining && self->in_flight < self->capacity
           && self->in_flight - self->llm_jobs < self->ocr_room;
}


//  --------------------------------------------------------------------------
//  A task that will take a while: follow its STATEs (acks for our result,
//  or its cancellation) and send STARTED. A task that ends in the step
//  that took it is never announced: its RESULT or FAILED goes out once, not
//  kept, with no subscription; if the sink loses it, the ventilator's
//  lease runs out and the task runs again. Three messages fewer per task.

static void
s_announce (worker_t *self, size_t slot)
{
    job_t *job = &self->jobs [slot];
    zsock_set_subscribe (self->states, ds_proto_task_id (job->task));
    s_send_event (self, job->task, DS_EVENT_STARTED, NULL, NULL, NULL, false);
    job->announced = true;
}


//  --------------------------------------------------------------------------
//  Take one TASK from the ventilator; returns false if none was waiting

static bool
s_take_task (worker_t *self)
{
    zmsg_t *msg = zmsg_recv (self->tasks);
    if (!msg)
        return false;
    if (ds_proto_decode_msg (self->message, msg, DS_PROTO_TASK)) {
        ds_proto_log_rejected (self->message, "ds_worker", msg);
        self->rejected++;
        zmsg_destroy (&msg);
        return true;
    }
    zmsg_destroy (&msg);
    //  The decoded message becomes the job's; decode the next into a new one
    ds_proto_t *task = self->message;
    self->message = ds_proto_new (0);

    const ds_strategy_t *strategy =
        ds_strategy_find (ds_proto_task_type (task));
    if (strategy == &ds_strategy_echo && !self->echo)
        strategy = NULL;
    if (!strategy) {
        char *text = zsys_sprintf ("task type '%s' is not supported",
                                   ds_proto_task_type (task));
        s_fail (self, task, "UNSUPPORTED_TYPE", text, false);
        zstr_free (&text);
        ds_proto_destroy (&task);
        return true;
    }
    if (strategy->needs_images && ds_proto_images (task) == 0) {
        s_fail (self, task, "NO_IMAGES", "the task carries no images", false);
        ds_proto_destroy (&task);
        return true;
    }
    size_t slot = 0;
    while (self->jobs [slot].task)
        slot++;
    assert (slot < self->capacity);
    job_t *job = &self->jobs [slot];
    job->task = task;
    job->strategy = strategy;
    job->pages = json_array ();
    //  Images a strategy does not read (form filling's, echo's) are not
    //  OCR'd: they cost a page of tesseract each and are never used
    job->remaining = strategy->reads_pages ? ds_proto_images (task) : 0;
    job->started = zclock_mono ();
    job->generation = ++self->generation & 0xffffffff;
    self->in_flight++;
    if (self->verbose)
        zsys_debug ("ds_worker: TASK task=%s type=%s pages=%zu attempt=%d",
                    ds_proto_task_id (task), strategy->name,
                    ds_proto_images (task), ds_proto_attempt (task));
    for (size_t page_nbr = 0; page_nbr < job->remaining; page_nbr++) {
        json_array_append_new (job->pages, json_null ());
        zlistx_add_end (self->waiting,
                        (void *) (((uintptr_t) slot << 16 | page_nbr) + 1));
    }
    if (job->remaining == 0) {
        s_ocr_done (self, slot);
        if (self->jobs [slot].task == task)  //  waiting for the LLM
            s_announce (self, slot);
    }
    else {
        s_announce (self, slot);
        s_feed_ocr (self);
    }
    return true;
}


//  --------------------------------------------------------------------------
//  An OCR thread finished a page

static void
s_page_done (worker_t *self, size_t thread_nbr)
{
    char *command = NULL, *text = NULL;
    uint32_t slot = 0, page = 0;
    int rc = -1, confidence = 0;
    if (zsock_recv (self->ocr [thread_nbr], "s44isi", &command, &slot, &page,
                    &rc, &text, &confidence)
            == 0
        && streq (command, "DONE")) {
        self->ocr_busy [thread_nbr] = false;
        job_t *job = &self->jobs [slot];
        assert (job->task && job->remaining);
        if (rc == 0) {
            json_t *text_json = json_string (text);
            if (!text_json)  //  tesseract gave bytes that are not UTF-8
                text_json = json_string ("");
            json_array_set_new (job->pages, page,
                                json_pack ("{s:o, s:i}", "text", text_json,
                                           "confidence", confidence));
        }
        else if (!job->error)
            job->error = zsys_sprintf ("page %u: %s", page + 1, text);
        if (--job->remaining == 0)
            s_ocr_done (self, slot);
    }
    zstr_free (&command);
    zstr_free (&text);
    s_feed_ocr (self);
}


//  --------------------------------------------------------------------------
//  Follow the sink's STATE stream for our tasks: a terminal state acks our
//  result, or tells us the task ended elsewhere (cancelled, say)

static void
s_state (worker_t *self)
{
    zmsg_t *msg;
    ds_proto_t *state = ds_proto_new (0);
    while ((msg = zmsg_recv (self->states))) {  //  rcvtimeo is 0
        const char *status = NULL;
        if (ds_proto_decode_msg (state, msg, DS_PROTO_STATE) == 0)
            status = ds_proto_status (state);
        if (ds_util_is_terminal (status)) {
            const char *task_id = ds_proto_task_id (state);
            zhash_delete (self->unacked, task_id);
            zhash_delete (self->sent_at, task_id);
            bool held = false;
            for (size_t slot = 0; slot < self->capacity; slot++) {
                job_t *job = &self->jobs [slot];
                if (!job->task
                    || !streq (ds_proto_task_id (job->task), task_id))
                    continue;
                held = true;
                zsys_info ("ds_worker: TASK-ENDED-ELSEWHERE task=%s "
                           "status=%s",
                           task_id, status);
                if (job->remaining)
                    job->abandoned = true;  //  freed when OCR is back
                else
                    s_release (self, slot);
            }
            if (!held)
                zsock_set_unsubscribe (self->states, task_id);
        }
        zmsg_destroy (&msg);
    }
    ds_proto_destroy (&state);
}


//  --------------------------------------------------------------------------
//  Handle a pipe command; returns -1 on $TERM

static int
s_command (worker_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command)
        return -1;
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "STATS"))
        zsock_send (self->pipe, "888", self->completed, self->failed,
                    self->rejected);
    else
        zsys_warning ("ds_worker: BAD-COMMAND command=%s", command);
    zstr_free (&command);
    return rc;
}


//  --------------------------------------------------------------------------
//  The main loop

static void
s_run (worker_t *self)
{
    size_t max_items = 3 + self->ocr_count + WORKER_LLM_SOCKETS;
    int64_t next_heartbeat = zclock_mono () + self->heartbeat_ms;
    zmq_pollitem_t *items =
        (zmq_pollitem_t *) zmalloc (max_items * sizeof (zmq_pollitem_t));
    assert (items);
    int64_t drain_deadline = 0;
    while (true) {
        if (self->draining
            && ((self->in_flight == 0 && zhash_size (self->unacked) == 0)
                || zclock_mono () > drain_deadline))
            break;
        //  Poll OCR threads, the pipe, tasks only while there is room for
        //  one more before the LLM stage, and the LLM's connections
        size_t count = 0;
        for (size_t thread_nbr = 0; thread_nbr < self->ocr_count; thread_nbr++)
            items [count++] = (zmq_pollitem_t){
                zsock_resolve (self->ocr [thread_nbr]), 0, ZMQ_POLLIN, 0};
        items [count++] =
            (zmq_pollitem_t){zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0};
        size_t states_item = count;
        items [count++] =
            (zmq_pollitem_t){zsock_resolve (self->states), 0, ZMQ_POLLIN, 0};
        bool room = s_room (self);
        size_t tasks_item = count;
        if (room)
            items [count++] =
                (zmq_pollitem_t){zsock_resolve (self->tasks), 0, ZMQ_POLLIN, 0};
        size_t llm_first = count;
        long timeout = (long) (next_heartbeat - zclock_mono ());
        if (timeout < 0)
            timeout = 0;
        if (self->llm) {
            count += (size_t) ds_llm_pollitems (self->llm, items + count,
                                                WORKER_LLM_SOCKETS);
            long llm_timeout = ds_llm_timeout (self->llm);
            if (llm_timeout >= 0 && llm_timeout < timeout)
                timeout = llm_timeout;
        }
        if (zmq_poll (items, (int) count, timeout) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        for (size_t thread_nbr = 0; thread_nbr < self->ocr_count; thread_nbr++)
            if (items [thread_nbr].revents & ZMQ_POLLIN)
                s_page_done (self, thread_nbr);
        if ((items [self->ocr_count].revents & ZMQ_POLLIN)
            && s_command (self) == -1 && !self->draining) {
            self->draining = true;
            drain_deadline = zclock_mono () + self->drain_ms;
            zsys_info ("ds_worker: DRAINING tasks=%zu", self->in_flight);
        }
        if (items [states_item].revents & ZMQ_POLLIN)
            s_state (self);
        //  Take what is waiting while there is room (short tasks come
        //  many at a time)
        if (room && (items [tasks_item].revents & ZMQ_POLLIN))
            for (int burst = 0; burst < WORKER_TASK_BURST && s_room (self)
                                && s_take_task (self);
                 burst++)
                ;
        if (zclock_mono () >= next_heartbeat) {
            s_heartbeat (self);
            next_heartbeat = zclock_mono () + self->heartbeat_ms;
        }
        if (self->llm) {
            ds_llm_execute (self->llm, items + llm_first,
                            (int) (count - llm_first));
            ds_llm_reply_t *reply;
            while ((reply = ds_llm_next (self->llm))) {
                s_llm_reply (self, reply);
                ds_llm_reply_destroy (&reply);
            }
        }
    }
    if (self->in_flight || zhash_size (self->unacked))
        zsys_warning ("ds_worker: DRAIN-TIMEOUT tasks=%zu unacked=%zu (their "
                      "leases will run out and they will be redelivered)",
                      self->in_flight, zhash_size (self->unacked));
    free (items);
}


//  --------------------------------------------------------------------------
//  Start the OCR threads; returns 0, or -1 if an engine did not load

static int
s_start_ocr (worker_t *self, ds_config_t *config)
{
    char *settings = zsys_sprintf ("%s\n%s\n%s", ds_config_get (config, "lang"),
                                   ds_config_get (config, "tessdata"),
                                   ds_config_get (config, "ocr-timeout"));
    int rc = 0;
    for (size_t thread_nbr = 0; thread_nbr < self->ocr_count; thread_nbr++) {
        self->ocr [thread_nbr] = zactor_new (ds_ocr_actor, settings);
        assert (self->ocr [thread_nbr]);
        char *status = zstr_recv (self->ocr [thread_nbr]);
        if (!status || !streq (status, "READY"))
            rc = -1;
        zstr_free (&status);
    }
    zstr_free (&settings);
    return rc;
}


//  --------------------------------------------------------------------------
//  The actor

void
ds_worker (zsock_t *pipe, void *args)
{
    ds_config_t *config = (ds_config_t *) args;
    worker_t self = {0};
    self.pipe = pipe;
    self.verbose = ds_config_bool (config, "verbose");
    zsock_signal (pipe, 0);

    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    self.ocr_count = (size_t) ds_config_int (config, "ocr-threads");
    if (self.ocr_count == 0)
        self.ocr_count = cores > 0 ? (size_t) cores : 1;
    self.ocr_room =
        self.ocr_count + (size_t) ds_config_int (config, "prefetch");
    //  With an LLM, jobs wait for it beside those in OCR
    self.llm = ds_llm_new (config);
    self.capacity =
        self.ocr_room
        + (self.llm ? (size_t) ds_config_int (config, "llm-max-inflight") : 0);
    self.ocr = (zactor_t **) zmalloc (self.ocr_count * sizeof (zactor_t *));
    self.ocr_busy = (bool *) zmalloc (self.ocr_count * sizeof (bool));
    self.jobs = (job_t *) zmalloc (self.capacity * sizeof (job_t));
    assert (self.ocr && self.ocr_busy && self.jobs);
    self.waiting = zlistx_new ();
    self.rules = ds_rules_new ();
    self.message = ds_proto_new (0);
    if (*ds_config_get (config, "worker-id"))
        self.worker_id = strdup (ds_config_get (config, "worker-id"));
    else {
        char host [256] = "worker";
        gethostname (host, sizeof (host) - 1);
        self.worker_id = zsys_sprintf ("%s-%d", host, (int) getpid ());
    }
    self.tasks = zsock_new (ZMQ_PULL);
    self.events = zsock_new (ZMQ_PUSH);
    self.states = zsock_new (ZMQ_SUB);
    assert (self.tasks && self.events && self.states);
    zsock_set_rcvtimeo (self.states, 0);
    zsock_set_maxmsgsize (self.states, DS_PROTO_MAX_FRAME);
    self.unacked = zhash_new ();
    self.sent_at = zhash_new ();
    self.heartbeat_ms = ds_config_int (config, "heartbeat-interval");
    self.drain_ms = ds_config_int (config, "drain-timeout");
    self.echo = ds_config_bool (config, "enable-echo");
    //  The ventilator's window bounds what is in transit to the workers;
    //  the mark only lets a burst of short tasks arrive in one go
    zsock_set_rcvhwm (self.tasks, WORKER_TASKS_RCVHWM);
    zsock_set_maxmsgsize (self.tasks, DS_PROTO_MAX_FRAME);
    zsock_set_rcvtimeo (self.tasks, 0);
    zsock_set_sndhwm (self.events, WORKER_EVENTS_SNDHWM);

    const char *dispatch = ds_config_get (config, "dispatch-endpoint");
    const char *events = ds_config_get (config, "events-endpoint");
    const char *prompts_dir = *ds_config_get (config, "prompts-dir")
                                  ? ds_config_get (config, "prompts-dir")
                                  : DS_PROMPTS_DIR;
    const char *format = ds_config_get (config, "llm-response-format");
    if (self.llm)
        self.prompts = ds_prompt_new (prompts_dir);
    bool started = false;
    ds_curve_t *curve = NULL;
    if (self.llm && !self.prompts) {
        char *reason = zsys_sprintf ("no prompts in %s", prompts_dir);
        ds_service_failed (pipe, reason);
        zstr_free (&reason);
    }
    else if (!streq (format, "json_schema") && !streq (format, "json_object"))
        ds_service_failed (pipe, "llm-response-format must be json_schema or "
                                 "json_object");
    else if (s_start_ocr (&self, config)) {
        char *reason = zsys_sprintf ("tesseract could not load language '%s'",
                                     ds_config_get (config, "lang"));
        ds_service_failed (pipe, reason);
        zstr_free (&reason);
    }
    else if (!(curve = ds_service_curve (pipe, config, "ds_worker")))
        ;  //  FAILED sent
    else if (ds_curve_connect (curve, self.tasks, dispatch)
             || ds_curve_connect (curve, self.events, events)
             || ds_curve_connect (curve, self.states,
                                  ds_config_get (config, "publish-endpoint")))
        ds_service_failed (pipe, "bad dispatch-, events- or "
                                 "publish-endpoint");
    else {
        started = true;
        char *line = zsys_sprintf ("worker=%s", self.worker_id);
        const char *lines [] = {line, NULL};
        ds_service_ready (pipe, lines);
        zstr_free (&line);
        zsys_info ("ds_worker: STARTED id=%s ocr-threads=%zu capacity=%zu "
                   "extractor=%s dispatch=%s events=%s",
                   self.worker_id, self.ocr_count, self.capacity,
                   self.llm ? "llm" : "offline", dispatch, events);
        s_run (&self);
        zsys_info ("ds_worker: STOPPED completed=%" PRIu64 " failed=%" PRIu64
                   " rejected=%" PRIu64,
                   self.completed, self.failed, self.rejected);
    }
    //  Give queued events a moment to reach the sink
    zsock_set_linger (self.events, 2000);
    zsock_set_linger (self.tasks, 0);
    zsock_destroy (&self.tasks);
    zsock_destroy (&self.events);
    //  OCR threads first: they may still read a job's image bytes
    for (size_t thread_nbr = 0; thread_nbr < self.ocr_count; thread_nbr++)
        zactor_destroy (&self.ocr [thread_nbr]);
    for (size_t slot = 0; slot < self.capacity; slot++)
        if (self.jobs [slot].task)
            s_release (&self, slot);
    zsock_destroy (&self.states);
    ds_curve_destroy (&curve);
    zhash_destroy (&self.unacked);
    zhash_destroy (&self.sent_at);
    ds_llm_destroy (&self.llm);
    ds_prompt_destroy (&self.prompts);
    free (self.jobs);
    free (self.ocr_busy);
    free (self.ocr);
    zlistx_destroy (&self.waiting);
    ds_rules_destroy (&self.rules);
    ds_proto_destroy (&self.message);
    zstr_free (&self.worker_id);
    if (!started)
        ds_service_await_term (pipe);
}


//  --------------------------------------------------------------------------
//  Receive the next EVENT from the test sink, skipping STARTED

static ds_proto_t *
s_next_outcome (zsock_t *sink)
{
    ds_proto_t *event = ds_proto_new (0);
    while (ds_proto_recv (event, sink) == 0)
        if (ds_proto_event (event) != DS_EVENT_STARTED)
            return event;
    ds_proto_destroy (&event);
    return NULL;
}


//  --------------------------------------------------------------------------
//  Self test: a worker between a test ventilator and a test sink

void
ds_worker_test (bool verbose)
{
    printf (" * ds_worker: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    zsock_t *ventilator = zsock_new (ZMQ_PUSH);
    zsock_t *sink = zsock_new (ZMQ_PULL);
    assert (zsock_bind (ventilator, "tcp://127.0.0.1:*") > 0);
    assert (zsock_bind (sink, "tcp://127.0.0.1:*") > 0);
    zsock_set_rcvtimeo (sink, 20000);
    ds_config_t *config = ds_config_new ("worker", DS_ROLE_WORKER, "test");
    ds_config_set (config, "dispatch-endpoint", zsock_endpoint (ventilator));
    ds_config_set (config, "events-endpoint", zsock_endpoint (sink));
    ds_config_set (config, "ocr-threads", "2");
    ds_config_set (config, "worker-id", "selftest");
    ds_config_set (config, "drain-timeout", "0");
    ds_config_set (config, "enable-echo", "true");
    zactor_t *worker = zactor_new (ds_worker, config);
    char *status = zstr_recv (worker);
    assert (status && streq (status, "READY"));
    zstr_free (&status);
    status = zstr_recv (worker);
    assert (streq (status, "worker=selftest"));
    zstr_free (&status);

    //  A page that is not an image ends its task with OCR_FAILED
    ds_proto_t *task = ds_proto_new (DS_PROTO_TASK);
    ds_proto_set_task_id (task, "bad-image");
    ds_proto_set_task_type (task, "document");
    ds_proto_set_attempt (task, 1);
    ds_proto_add_image (task, "GIF89a but not really", 21);
    assert (ds_proto_send (task, ventilator) == 0);
    ds_proto_destroy (&task);
    ds_proto_t *event = s_next_outcome (sink);
    assert (event && ds_proto_event (event) == DS_EVENT_FAILED);
    assert (streq (ds_proto_task_id (event), "bad-image"));
    assert (streq (ds_proto_error_code (event), "OCR_FAILED"));
    assert (streq (ds_proto_worker (event), "selftest"));
    ds_proto_destroy (&event);

    //  An unknown task type is refused with a reason
    task = ds_proto_new (DS_PROTO_TASK);
    ds_proto_set_task_id (task, "poem");
    ds_proto_set_task_type (task, "poem");
    assert (ds_proto_send (task, ventilator) == 0);
    ds_proto_destroy (&task);
    event = s_next_outcome (sink);
    assert (streq (ds_proto_error_code (event), "UNSUPPORTED_TYPE"));
    ds_proto_destroy (&event);

    //  Form filling needs no OCR: an image it carries is not read (this
    //  one would fail OCR), and echo reads none either
    task = ds_proto_new (DS_PROTO_TASK);
    ds_proto_set_task_id (task, "filling");
    ds_proto_set_task_type (task, "form_filling");
    ds_proto_add_image (task, "GIF89a but not really", 21);
    ds_proto_set_form (task, "{\"fields\": [\"Email\"]}");
    ds_proto_set_file_lib (task, "{\"documents\": [{\"id\": \"d1\", "
                                 "\"kv\": {\"E-mail\": \"a@b.example\"}}]}");
    assert (ds_proto_send (task, ventilator) == 0);
    ds_proto_destroy (&task);
    event = s_next_outcome (sink);
    assert (ds_proto_event (event) == DS_EVENT_RESULT);
    json_t *result = json_loads (ds_proto_result (event), 0, NULL);
    assert (result);
    json_t *email =
        json_object_get (json_object_get (result, "fields"), "Email");
    assert (streq (json_string_value (json_object_get (email, "value")),
                   "a@b.example"));
    json_decref (result);
    ds_proto_destroy (&event);
    task = ds_proto_new (DS_PROTO_TASK);
    ds_proto_set_task_id (task, "echo");
    ds_proto_set_task_type (task, "echo");
    ds_proto_add_image (task, "GIF89a but not really", 21);
    assert (ds_proto_send (task, ventilator) == 0);
    ds_proto_destroy (&task);
    event = s_next_outcome (sink);
    assert (ds_proto_event (event) == DS_EVENT_RESULT);
    result = json_loads (ds_proto_result (event), 0, NULL);
    assert (json_is_true (json_object_get (result, "echo")));
    json_decref (result);
    ds_proto_destroy (&event);

    //  Two rendered pages come back in order with their words
    const char *fixtures = getenv ("DS_FIXTURES");
    if (fixtures) {
        task = ds_proto_new (DS_PROTO_TASK);
        ds_proto_set_task_id (task, "pages");
        ds_proto_set_task_type (task, "document");
        const char *names [] = {"invoice.png", "notes.png"};
        for (int page_nbr = 0; page_nbr < 2; page_nbr++) {
            char *path = zsys_sprintf ("%s/%s", fixtures, names [page_nbr]);
            zfile_t *file = zfile_new (NULL, path);
            assert (file && zfile_input (file) == 0);
            zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
            ds_proto_add_image (task, zchunk_data (chunk), zchunk_size (chunk));
            zchunk_destroy (&chunk);
            zfile_destroy (&file);
            zstr_free (&path);
        }
        assert (ds_proto_send (task, ventilator) == 0);
        ds_proto_destroy (&task);
        event = s_next_outcome (sink);
        assert (ds_proto_event (event) == DS_EVENT_RESULT);
        result = json_loads (ds_proto_result (event), 0, NULL);
        json_t *pages = json_object_get (result, "pages");
        assert (json_array_size (pages) == 2);
        assert (strstr (json_string_value (json_object_get (
                            json_array_get (pages, 0), "text")),
                        "INV-2041"));
        assert (strstr (json_string_value (json_object_get (
                            json_array_get (pages, 1), "text")),
                        "DELIVERY"));
        assert (streq (json_string_value (json_object_get (
                           json_object_get (result, "kv"), "Invoice Number")),
                       "INV-2041"));
        json_decref (result);
        ds_proto_destroy (&event);
    }
    uint64_t completed, failed, rejected;
    zstr_send (worker, "STATS");
    assert (zsock_recv (worker, "888", &completed, &failed, &rejected) == 0);
    assert (failed == 2 && completed == (fixtures ? 3 : 2));

    zactor_destroy (&worker);
    ds_config_destroy (&config);
    zsock_destroy (&ventilator);
    zsock_destroy (&sink);
    //  @end
    printf ("OK\n");
}
