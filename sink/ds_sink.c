/*  =========================================================================
    ds_sink - the sink actor: worker events into SQLite

    @header
    Receives up to batch-size events (or 4 MB of them) at a time from its
    PULL socket, then applies them in one transaction, so the write rate
    is bounded by SQLite's commit rate divided by the batch, not by the
    event rate, and the write lock is held only while applying.
    Malformed frames are logged with a bounded sample, counted, dropped.
    @end
    =========================================================================
*/

#include "ds_sink_classes.h"

#define SINK_RCVHWM 100000
#define SINK_PUB_SNDHWM 100000
#define SINK_EXPIRE_EVERY_MS 60000  //  at most; more often for short periods
#define SINK_EXPIRE_MIN_MS 100
#define SINK_EXPIRE_BATCH 1000  //  expired tasks deleted per transaction
#define SINK_EXPIRE_PAUSE_MS 1  //  the lock is free between two of them
#define SINK_BATCH_BYTES (4 * 1024 * 1024)  //  received before applying
#define SINK_KEEP_BYTES (64 * 1024)  //  larger decoded events are not kept

//  Structure of the actor's state

typedef struct {
    zsock_t *pipe;          //  actor pipe
    zsock_t *events;        //  PULL, bound: EVENT from workers
    zsock_t *publish;       //  PUB, bound: STATE after each commit
    zlistx_t *outbox;       //  STATE messages to publish after the commit
    ds_store_t *store;      //  task store
    ds_proto_t **received;  //  batch_size decoded events, made when needed
    size_t *received_size;  //  the size of each one's message
    int batch_size;         //  events per transaction at most
    bool verbose;           //  log each event
    uint64_t applied;       //  events that changed a task
    uint64_t dropped;       //  late duplicates and unknown tasks
    uint64_t cancels;       //  CANCELLED notices of cancels committed
    uint64_t rejected;      //  malformed frames
    int64_t retention;      //  ms an ended task is kept, 0 forever
    int64_t expired;        //  deleted in the current round of expiry
    int64_t expiry_began;   //  mono ms the round began
} sink_t;


//  --------------------------------------------------------------------------
//  Queue the task's state after an event, to publish once committed

static void
s_queue_state (sink_t *self, ds_proto_t *event, bool applied)
{
    char *error_code = NULL;
    char *status = NULL;
    //  An event that applied says the new state; one that did not, ask
    static const char *applied_status [] = {
        NULL, "processing", "processing", "completed", "error", "cancelled"};
    int kind = ds_proto_event (event);
    if (applied && kind >= DS_EVENT_STARTED && kind <= DS_EVENT_CANCELLED) {
        status = strdup (applied_status [kind]);
        error_code =
            strdup (kind == DS_EVENT_FAILED ? ds_proto_error_code (event) : "");
    }
    else
        status = ds_store_task_state (self->store, ds_proto_task_id (event),
                                      &error_code, NULL);
    if (status) {
        ds_proto_t *state = ds_proto_new (DS_PROTO_STATE);
        ds_proto_set_task_id (state, ds_proto_task_id (event));
        ds_proto_set_status (state, status);
        ds_proto_set_attempt (state, ds_proto_attempt (event));
        ds_proto_set_worker (state, ds_proto_worker (event));
        ds_proto_set_time_ms (state, ds_util_now_ms ());
        ds_proto_set_error (state, error_code, "");
        zlistx_add_end (self->outbox, state);
    }
    zstr_free (&status);
    zstr_free (&error_code);
}


//  --------------------------------------------------------------------------
//  Publish what was committed: [task_id][STATE]

static void
s_publish (sink_t *self)
{
    ds_proto_t *state;
    while ((state = (ds_proto_t *) zlistx_detach (self->outbox, NULL))) {
        zframe_t *frame = ds_proto_encode (state);
        zstr_sendm (self->publish, ds_proto_task_id (state));
        zframe_send (&frame, self->publish, ZFRAME_DONTWAIT);
        ds_proto_destroy (&state);
    }
}


//  --------------------------------------------------------------------------
//  A decoded event keeps its strings until its slot is reused: the large
//  ones of a batch are let go, not kept for a burst that may not come again

static void
s_release_large (sink_t *self, int count)
{
    for (int event_nbr = 0; event_nbr < count; event_nbr++)
        if (self->received_size [event_nbr] > SINK_KEEP_BYTES)
            ds_proto_destroy (&self->received [event_nbr]);
}


//  --------------------------------------------------------------------------
//  Receive what is waiting, up to one batch (batch-size events or
//  SINK_BATCH_BYTES of them), then apply it in one transaction: the write
//  lock, which the gateway's batches wait for, is held only to apply

static void
s_sink_drain (sink_t *self)
{
    int count = 0;
    size_t bytes = 0;
    while (count < self->batch_size && bytes < SINK_BATCH_BYTES) {
        zmsg_t *msg = zmsg_recv (self->events);  //  rcvtimeo is 0
        if (!msg)
            break;
        if (!self->received [count])
            self->received [count] = ds_proto_new (0);
        ds_proto_t *event = self->received [count];
        self->received_size [count] = zmsg_content_size (msg);
        bytes += self->received_size [count];
        if (ds_proto_decode_msg (event, msg, DS_PROTO_EVENT)) {
            ds_proto_log_rejected (event, "ds_sink", msg);
            self->rejected++;
        }
        else
            count++;
        zmsg_destroy (&msg);
    }
    if (count == 0)
        return;
    if (ds_store_begin (self->store)) {
        //  Not applied: workers resend their results
        zsys_error ("ds_sink: DB-FAIL begin error=%s events=%d",
                    ds_store_error (self->store), count);
        s_release_large (self, count);
        return;
    }
    for (int event_nbr = 0; event_nbr < count; event_nbr++) {
        ds_proto_t *event = self->received [event_nbr];
        int rc = ds_store_apply_event (self->store, event);
        if (rc == 1)
            self->applied++;
        else if (rc == 0 && ds_proto_event (event) == DS_EVENT_CANCELLED)
            //  The gateway committed the cancel before it sent this: the
            //  task has ended as cancelled, and its STATE goes out below
            self->cancels++;
        else if (rc == 0 && ds_proto_event (event) != DS_EVENT_HEARTBEAT) {
            self->dropped++;
            zsys_info ("ds_sink: DROPPED task=%s event=%d worker=%s "
                       "(task ended already or unknown)",
                       ds_proto_task_id (event), ds_proto_event (event),
                       ds_proto_worker (event));
        }
        if (rc >= 0)
            s_queue_state (self, event, rc == 1);
        if (self->verbose)
            zsys_debug ("ds_sink: EVENT task=%s event=%d worker=%s rc=%d",
                        ds_proto_task_id (event), ds_proto_event (event),
                        ds_proto_worker (event), rc);
    }
    if (ds_store_commit (self->store)) {
        zsys_error ("ds_sink: DB-FAIL commit error=%s",
                    ds_store_error (self->store));
        //  Not committed: publish nothing; workers resend their results
        zlistx_purge (self->outbox);
    }
    else
        s_publish (self);
    s_release_large (self, count);
}


//  --------------------------------------------------------------------------
//  Delete ended tasks past the retention period, SINK_EXPIRE_BATCH at a
//  time: a backlog (a day after a benchmark, or a sink back after a long
//  stop) held the write lock for seconds in one transaction, past the
//  gateway's busy timeout. Returns true while more may be due: the loop
//  then calls again after a short pause, applying events in between.

static bool
s_expire (sink_t *self)
{
    if (self->retention == 0)
        return false;
    if (self->expired == 0)
        self->expiry_began = zclock_mono ();
    int64_t deleted = ds_store_expire (
        self->store, ds_util_now_ms () - self->retention, SINK_EXPIRE_BATCH);
    if (deleted > 0)
        self->expired += deleted;
    if (deleted == SINK_EXPIRE_BATCH)
        return true;
    if (self->expired)
        zsys_info ("ds_sink: EXPIRED tasks=%" PRId64 " ms=%" PRId64,
                   self->expired, zclock_mono () - self->expiry_began);
    self->expired = 0;
    return false;
}


//  --------------------------------------------------------------------------
//  Handle a command from the pipe; returns -1 on $TERM

static int
s_sink_command (sink_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command)
        return -1;
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "STATS"))
        zsock_send (self->pipe, "8888", self->applied, self->dropped,
                    self->rejected, self->cancels);
    else
        zsys_warning ("ds_sink: BAD-COMMAND command=%s", command);
    zstr_free (&command);
    return rc;
}


//  --------------------------------------------------------------------------
//  The actor

void
ds_sink (zsock_t *pipe, void *args)
{
    ds_config_t *config = (ds_config_t *) args;
    sink_t self = {0};
    bool started = false;
    self.pipe = pipe;
    self.batch_size = (int) ds_config_int (config, "batch-size");
    self.verbose = ds_config_bool (config, "verbose");
    self.retention = ds_config_int (config, "retention") * 1000;
    //  Look for expired tasks at least twice per retention period
    int64_t expire_every = SINK_EXPIRE_EVERY_MS;
    if (self.retention && self.retention / 2 < expire_every)
        expire_every = self.retention / 2 > SINK_EXPIRE_MIN_MS
                           ? self.retention / 2
                           : SINK_EXPIRE_MIN_MS;
    zsock_signal (pipe, 0);

    char *db_path = ds_service_db_path (config);
    self.store = ds_service_store (config, db_path);
    self.outbox = zlistx_new ();
    zlistx_set_destructor (self.outbox,
                           (zlistx_destructor_fn *) ds_proto_destroy);
    self.publish = zsock_new (ZMQ_PUB);
    assert (self.publish);
    zsock_set_sndhwm (self.publish, SINK_PUB_SNDHWM);
    const char *publish = ds_config_get (config, "publish-endpoint");
    self.events = zsock_new (ZMQ_PULL);
    assert (self.events);
    zsock_set_maxmsgsize (self.events, DS_PROTO_MAX_FRAME);
    zsock_set_rcvhwm (self.events, SINK_RCVHWM);
    zsock_set_rcvtimeo (self.events, 0);
    const char *endpoint = ds_config_get (config, "events-endpoint");
    ds_curve_t *curve = NULL;
    if (!self.store)
        ds_service_failed (pipe, "cannot open the database");
    else if (!(curve = ds_service_curve (pipe, config, "ds_sink")))
        ;  //  FAILED sent
    else if (ds_curve_bind (curve, self.events, endpoint) < 0
             || ds_curve_bind (curve, self.publish, publish) < 0) {
        char *reason = zsys_sprintf ("cannot bind %s or %s: %s", endpoint,
                                     publish, zmq_strerror (zmq_errno ()));
        ds_service_failed (pipe, reason);
        zstr_free (&reason);
    }
    else {
        started = true;
        char *line = zsys_sprintf ("events=%s", zsock_endpoint (self.events));
        char *publish_line =
            zsys_sprintf ("publish=%s", zsock_endpoint (self.publish));
        const char *lines [] = {line, publish_line, NULL};
        ds_service_ready (pipe, lines);
        zsys_info ("ds_sink: STARTED db=%s %s %s retention-s=%" PRId64, db_path,
                   line, publish_line, self.retention / 1000);
        zstr_free (&line);
        zstr_free (&publish_line);
        self.received =
            (ds_proto_t **) zmalloc (self.batch_size * sizeof (ds_proto_t *));
        self.received_size =
            (size_t *) zmalloc (self.batch_size * sizeof (size_t));
        assert (self.received && self.received_size);
        bool expiring = s_expire (&self);
        int64_t next_expiry = zclock_mono () + expire_every;

        zpoller_t *poller = zpoller_new (pipe, self.events, NULL);
        zpoller_set_nonstop (poller, true);
        while (true) {
            void *which = zpoller_wait (poller, expiring ? SINK_EXPIRE_PAUSE_MS
                                                         : (int) expire_every);
            if (which == pipe && s_sink_command (&self))
                break;
            if (which == self.events)
                s_sink_drain (&self);
            if (expiring || zclock_mono () >= next_expiry) {
                expiring = s_expire (&self);
                next_expiry = zclock_mono () + expire_every;
            }
        }
        zpoller_destroy (&poller);
        //  Apply whatever already arrived before stopping
        s_sink_drain (&self);
        zsys_info ("ds_sink: STOPPED applied=%" PRIu64 " dropped=%" PRIu64
                   " rejected=%" PRIu64 " cancels=%" PRIu64
                   " sqlite-memory=%" PRId64 " sqlite-memory-peak=%" PRId64
                   " lock-waits=%" PRIu64,
                   self.applied, self.dropped, self.rejected, self.cancels,
                   (int64_t) sqlite3_memory_used (),
                   (int64_t) sqlite3_memory_highwater (0),
                   ds_store_busy_waits (self.store));
        for (int event_nbr = 0; event_nbr < self.batch_size; event_nbr++)
            ds_proto_destroy (&self.received [event_nbr]);
        free (self.received);
        free (self.received_size);
    }
    zsock_destroy (&self.events);
    zsock_destroy (&self.publish);
    ds_curve_destroy (&curve);
    zlistx_destroy (&self.outbox);
    ds_store_destroy (&self.store);
    zstr_free (&db_path);
    if (!started)
        ds_service_await_term (pipe);
}


//  --------------------------------------------------------------------------
//  Self test: the sink's counts (STATS: applied, dropped, rejected,
//  cancels), asked for until those in the mask add up to total, 5 s at most

#define STATS_APPLIED 1
#define STATS_DROPPED 2
#define STATS_REJECTED 4
#define STATS_CANCELS 8

static void
s_stats_until (zactor_t *sink, uint64_t *counts, int mask, uint64_t total)
{
    int64_t deadline = zclock_mono () + 5000;
    while (true) {
        zstr_send (sink, "STATS");
        assert (zsock_recv (sink, "8888", &counts [0], &counts [1], &counts [2],
                            &counts [3])
                == 0);
        uint64_t sum = 0;
        for (int count_nbr = 0; count_nbr < 4; count_nbr++)
            if (mask & (1 << count_nbr))
                sum += counts [count_nbr];
        if (sum >= total || zclock_mono () >= deadline)
            break;
        zclock_sleep (10);
    }
}


//  --------------------------------------------------------------------------
//  Self test: events in, rows out, duplicates dropped, garbage rejected

void
ds_sink_test (bool verbose)
{
    printf (" * ds_sink: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    char *data_dir = zsys_sprintf ("/tmp/ds_sink_test.%d", (int) getpid ());
    ds_config_t *config = ds_config_new ("sink", DS_ROLE_SINK, "test");
    ds_config_set (config, "data-dir", data_dir);
    ds_config_set (config, "events-endpoint", "tcp://127.0.0.1:*");
    ds_config_set (config, "publish-endpoint", "tcp://127.0.0.1:*");
    ds_config_set (config, "batch-size", "2");
    char *db_path = ds_service_db_path (config);
    ds_store_t *store = ds_store_new (db_path);
    assert (store);
    zchunk_t *image = zchunk_new ("x", 1);
    const char *stored [] = {"task-1", "probe",  "task-2",
                             "task-3", "task-4", NULL};
    for (const char **task_id = stored; *task_id; task_id++)
        assert (ds_store_insert_task (store, *task_id, "document", 5, &image, 1,
                                      NULL, NULL)
                == 0);
    zchunk_destroy (&image);

    zactor_t *sink = zactor_new (ds_sink, config);
    char *status = zstr_recv (sink);
    assert (status && streq (status, "READY"));
    char *line = zstr_recv (sink);
    assert (line && strncmp (line, "events=tcp://127.0.0.1:", 23) == 0);
    zsock_t *push = zsock_new_push (NULL);
    assert (zsock_connect (push, "%s", line + 7) == 0);
    char *publish_line = zstr_recv (sink);
    assert (publish_line && strncmp (publish_line, "publish=", 8) == 0);
    zsock_t *subscriber = zsock_new_sub (publish_line + 8, "task-1");
    assert (subscriber);
    zsock_set_subscribe (subscriber, "probe");
    zstr_free (&publish_line);
    zstr_free (&status);
    zstr_free (&line);
    //  Handshake: beat for the probe task until its STATE comes through,
    //  so the subscription is live before the events that matter
    ds_proto_t *probe = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (probe, "probe");
    ds_proto_set_worker (probe, "w0");
    ds_proto_set_event (probe, DS_EVENT_HEARTBEAT);
    zsock_set_rcvtimeo (subscriber, 100);
    zmsg_t *probed = NULL;
    for (int try_nbr = 0; try_nbr < 50 && !probed; try_nbr++) {
        ds_proto_send (probe, push);
        probed = zmsg_recv (subscriber);
    }
    assert (probed && zframe_streq (zmsg_first (probed), "probe"));
    zmsg_destroy (&probed);
    ds_proto_destroy (&probe);
    zsock_set_unsubscribe (subscriber, "probe");
    zsock_set_rcvtimeo (subscriber, 5000);

    ds_proto_t *event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (event, "task-1");
    ds_proto_set_worker (event, "w1");
    ds_proto_set_attempt (event, 1);
    ds_proto_set_event (event, DS_EVENT_STARTED);
    ds_proto_send (event, push);
    zstr_send (push, "garbage");
    ds_proto_set_event (event, DS_EVENT_RESULT);
    ds_proto_set_result (event, "{}");
    ds_proto_send (event, push);
    ds_proto_set_event (event, DS_EVENT_FAILED);
    ds_proto_set_error (event, "LATE", "too late");
    ds_proto_send (event, push);
    ds_proto_destroy (&event);

    //  Poll STATS until all four frames are accounted for
    //  Counts: applied, dropped, rejected, cancels. The probe's first
    //  beat counts as its start: one more applied
    uint64_t counts [4];
    s_stats_until (sink, counts, STATS_APPLIED | STATS_DROPPED | STATS_REJECTED,
                   5);
    assert (counts [0] == 3 && counts [1] == 1 && counts [2] == 1);
    //  The subscriber saw the task's states after each commit: it may
    //  have joined late, but it sees the final one, and the late FAILED
    //  is answered with the terminal state again
    ds_proto_t *state = ds_proto_new (0);
    char *last_status = NULL;
    while (true) {
        zmsg_t *published = zmsg_recv (subscriber);
        if (!published)
            break;
        //  A late probe STATE may still come through; skip it
        bool ours = zframe_streq (zmsg_first (published), "task-1");
        zframe_t *frame = zmsg_last (published);
        assert (zmsg_size (published) == 2);
        assert (
            ds_proto_decode (state, zframe_data (frame), zframe_size (frame))
            == 0);
        zmsg_destroy (&published);
        if (!ours)
            continue;
        zstr_free (&last_status);
        last_status = strdup (ds_proto_status (state));
        if (ds_proto_attempt (state) == 1 && streq (last_status, "completed")
            && streq (ds_proto_worker (state), "w1"))
            zsock_set_rcvtimeo (subscriber, 200);
    }
    assert (last_status && streq (last_status, "completed"));
    zstr_free (&last_status);
    ds_proto_destroy (&state);
    zsock_destroy (&subscriber);

    json_t *task = ds_store_task_status (store, "task-1");
    assert (streq (json_string_value (json_object_get (task, "status")),
                   "completed"));
    json_decref (task);

    //  A result larger than the sink keeps decoded between batches is
    //  applied whole, and the slot it came in serves the next events
    size_t big_size = 2 * SINK_KEEP_BYTES;
    char *big = (char *) zmalloc (big_size + 16);
    memset (big, 'a', big_size + 16);
    memcpy (big, "{\"text\": \"", 10);
    memcpy (big + big_size + 10, "\"}", 3);
    const char *task_ids [] = {"task-2", "task-3"};
    event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_worker (event, "w1");
    ds_proto_set_attempt (event, 1);
    for (int task_nbr = 0; task_nbr < 2; task_nbr++) {
        ds_proto_set_task_id (event, task_ids [task_nbr]);
        ds_proto_set_event (event, DS_EVENT_STARTED);
        ds_proto_send (event, push);
        ds_proto_set_event (event, DS_EVENT_RESULT);
        ds_proto_set_result (event, task_nbr == 0 ? big : "{}");
        ds_proto_send (event, push);
    }
    ds_proto_destroy (&event);
    s_stats_until (sink, counts, STATS_APPLIED, 7);
    assert (counts [0] == 7);
    task = ds_store_task_status (store, "task-2");
    json_t *result = json_object_get (task, "result");
    assert (strlen (json_string_value (json_object_get (result, "text")))
            == big_size);
    json_decref (task);
    task = ds_store_task_status (store, "task-3");
    assert (streq (json_string_value (json_object_get (task, "status")),
                   "completed"));
    json_decref (task);
    free (big);

    //  A cancel the gateway committed comes as a CANCELLED notice: the
    //  sink publishes it and counts it as such, not as dropped
    assert (ds_store_cancel (store, "task-4") == 1);
    event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (event, "task-4");
    ds_proto_set_worker (event, "gateway");
    ds_proto_set_event (event, DS_EVENT_CANCELLED);
    ds_proto_send (event, push);
    ds_proto_destroy (&event);
    s_stats_until (sink, counts, STATS_CANCELS, 1);
    assert (counts [3] == 1 && counts [1] == 1 && counts [0] == 7);
    zactor_destroy (&sink);

    //  A backlog of expired tasks larger than a transaction's share goes
    //  in one round, batch after batch, not a batch per period (60 s for
    //  this retention); what is not due stays
    int64_t kept = ds_store_count (store, NULL);
    assert (ds_store_begin (store) == 0);
    for (int task_nbr = 0; task_nbr < 2 * SINK_EXPIRE_BATCH + 500; task_nbr++) {
        char task_id [16];
        snprintf (task_id, sizeof (task_id), "old-%d", task_nbr);
        assert (ds_store_insert_task (store, task_id, "document", 5, NULL, 0,
                                      NULL, NULL)
                == 0);
    }
    assert (ds_store_commit (store) == 0);
    sqlite3 *db = NULL;
    assert (sqlite3_open (db_path, &db) == SQLITE_OK);
    assert (sqlite3_exec (db,
                          "UPDATE tasks SET status = 'completed',"
                          " created_at = 1, finished_at = 1"
                          " WHERE id LIKE 'old-%'",
                          NULL, NULL, NULL)
            == SQLITE_OK);
    sqlite3_close (db);
    ds_config_set (config, "retention", "200");
    sink = zactor_new (ds_sink, config);
    status = zstr_recv (sink);
    assert (status && streq (status, "READY"));
    zstr_free (&status);
    int64_t deadline = zclock_mono () + 10000;
    while (ds_store_count (store, NULL) > kept && zclock_mono () < deadline)
        zclock_sleep (10);
    assert (ds_store_count (store, NULL) == kept);
    zactor_destroy (&sink);
    zsock_destroy (&push);
    ds_store_destroy (&store);
    ds_config_destroy (&config);
    char *command = zsys_sprintf ("rm -rf '%s'", data_dir);
    assert (system (command) == 0);
    zstr_free (&command);
    zstr_free (&db_path);
    zstr_free (&data_dir);
    //  @end
    printf ("OK\n");
}
