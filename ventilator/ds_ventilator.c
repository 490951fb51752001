/*  =========================================================================
    ds_ventilator - the queue: priorities and dispatch to workers

    @header
    The queue holds only task ids; a task's inputs are read from the store
    at the moment it is dispatched, so queue memory stays small whatever
    the images weigh. The worker socket has a send high-water mark of one
    message, and the loop polls it for POLLOUT only while the queue is not
    empty: tasks wait here, in priority order, until a worker has room.
    @end
    =========================================================================
*/

#include "ds_ventilator_classes.h"

#define VENTILATOR_SNDHWM 1
#define VENTILATOR_RCVHWM 100000
#define VENTILATOR_LEVELS (DS_PROTO_MAX_PRIORITY + 1)

//  Structure of the actor's state

typedef struct {
    zsock_t *pipe;                         //  actor pipe
    zsock_t *intake;                       //  PULL, bound: QUEUE from gateways
    zsock_t *dispatch;                     //  PUSH, bound: TASK to workers
    ds_store_t *store;                     //  task store, read only here
    ds_proto_t *message;                   //  reusable decoded message
    zlistx_t *levels [VENTILATOR_LEVELS];  //  task ids (char *) per priority
    zhashx_t *queued;                      //  task ids in the queue, for dedupe
    size_t size;                           //  ids in all levels
    bool verbose;                          //  log each dispatch
    uint64_t dispatched;                   //  TASKs sent
    uint64_t rejected;                     //  malformed frames
} ventilator_t;


//  --------------------------------------------------------------------------
//  Add a task id at its priority, unless it is queued already

static void
s_enqueue (ventilator_t *self, const char *task_id, int priority)
{
    if (zhashx_lookup (self->queued, task_id))
        return;
    zhashx_insert (self->queued, task_id, (void *) "");
    zlistx_add_end (self->levels [priority], (void *) task_id);
    self->size++;
}


//  --------------------------------------------------------------------------
//  Take the most urgent, oldest task id; caller frees. NULL when empty.

static char *
s_dequeue (ventilator_t *self)
{
    for (int level = DS_PROTO_MAX_PRIORITY; level >= 0; level--)
        if (zlistx_size (self->levels [level])) {
            char *task_id = (char *) zlistx_detach (self->levels [level], NULL);
            zhashx_delete (self->queued, task_id);
            self->size--;
            return task_id;
        }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Read QUEUE messages waiting on the intake socket

static void
s_intake (ventilator_t *self)
{
    zmsg_t *msg;
    while ((msg = zmsg_recv (self->intake))) {  //  rcvtimeo is 0
        zframe_t *frame = zmsg_first (msg);
        if (zmsg_size (msg) != 1
            || ds_proto_decode (self->message, zframe_data (frame),
                                zframe_size (frame))
            || ds_proto_type (self->message) != DS_PROTO_QUEUE) {
            char sample [DS_UTIL_SAMPLE + 1];
            ds_util_sample (zframe_data (frame), zframe_size (frame), sample);
            zsys_warning ("ds_ventilator: BAD-FRAME reason=\"%s\" "
                          "sample=\"%s\"",
                          ds_proto_type (self->message)
                              ? "not a QUEUE"
                              : ds_proto_reason (self->message),
                          sample);
            self->rejected++;
        }
        else
            s_enqueue (self, ds_proto_task_id (self->message),
                       ds_proto_priority (self->message));
        zmsg_destroy (&msg);
    }
}


//  --------------------------------------------------------------------------
//  Send the most urgent task to the worker socket, which is writable

static void
s_dispatch (ventilator_t *self)
{
    char *task_id = s_dequeue (self);
    if (!task_id)
        return;
    ds_proto_t *task = ds_store_load_task (self->store, task_id);
    if (!task)
        zsys_info ("ds_ventilator: SKIPPED task=%s (ended or gone)", task_id);
    else {
        ds_proto_set_attempt (task, ds_proto_attempt (task) + 1);
        zframe_t *frame = ds_proto_encode (task);
        if (zframe_send (&frame, self->dispatch, ZFRAME_DONTWAIT) == 0) {
            self->dispatched++;
            if (self->verbose)
                zsys_debug ("ds_ventilator: DISPATCHED task=%s priority=%d "
                            "attempt=%d queued=%zu",
                            task_id, ds_proto_priority (task),
                            ds_proto_attempt (task), self->size);
        }
        else {
            //  The socket filled up after all: put the task back in front
            zframe_destroy (&frame);
            zhashx_insert (self->queued, task_id, (void *) "");
            zlistx_add_start (self->levels [ds_proto_priority (task)], task_id);
            self->size++;
        }
        ds_proto_destroy (&task);
    }
    zstr_free (&task_id);
}


//  --------------------------------------------------------------------------
//  Handle a pipe command; returns -1 on $TERM

static int
s_command (ventilator_t *self)
{
    char *command = zstr_recv (self->pipe);
    if (!command)
        return -1;
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "STATS"))
        zsock_send (self->pipe, "888", (uint64_t) self->size, self->dispatched,
                    self->rejected);
    else
        zsys_warning ("ds_ventilator: BAD-COMMAND command=%s", command);
    zstr_free (&command);
    return rc;
}


//  --------------------------------------------------------------------------
//  Bind a socket, or report failure; returns 0 or -1

static int
s_bind (zsock_t *pipe, zsock_t *sock, const char *endpoint)
{
    if (zsock_bind (sock, "%s", endpoint) >= 0)
        return 0;
    char *reason = zsys_sprintf ("cannot bind %s: %s", endpoint,
                                 zmq_strerror (zmq_errno ()));
    ds_service_failed (pipe, reason);
    zstr_free (&reason);
    return -1;
}


//  --------------------------------------------------------------------------
//  The main loop: intake, dispatch when writable, commands

static void
s_run (ventilator_t *self)
{
    zmq_pollitem_t items [] = {
        {zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->intake), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->dispatch), 0, ZMQ_POLLOUT, 0},
    };
    while (true) {
        //  Watch the worker socket only while there is work for it
        int count = self->size ? 3 : 2;
        if (zmq_poll (items, count, -1) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if ((items [0].revents & ZMQ_POLLIN) && s_command (self))
            break;
        if (items [1].revents & ZMQ_POLLIN)
            s_intake (self);
        if (count == 3 && (items [2].revents & ZMQ_POLLOUT))
            s_dispatch (self);
    }
}


//  --------------------------------------------------------------------------
//  The actor

void
ds_ventilator (zsock_t *pipe, void *args)
{
    ds_config_t *config = (ds_config_t *) args;
    ventilator_t self = {0};
    self.pipe = pipe;
    self.verbose = ds_config_bool (config, "verbose");
    zsock_signal (pipe, 0);

    for (int level = 0; level < VENTILATOR_LEVELS; level++) {
        self.levels [level] = zlistx_new ();
        zlistx_set_duplicator (self.levels [level],
                               (zlistx_duplicator_fn *) strdup);
        zlistx_set_destructor (self.levels [level],
                               (zlistx_destructor_fn *) zstr_free);
    }
    self.queued = zhashx_new ();
    self.message = ds_proto_new (0);
    self.intake = zsock_new (ZMQ_PULL);
    self.dispatch = zsock_new (ZMQ_PUSH);
    assert (self.intake && self.dispatch);
    zsock_set_maxmsgsize (self.intake, DS_PROTO_MAX_FRAME);
    zsock_set_rcvhwm (self.intake, VENTILATOR_RCVHWM);
    zsock_set_rcvtimeo (self.intake, 0);
    zsock_set_sndhwm (self.dispatch, VENTILATOR_SNDHWM);
    zsock_set_maxmsgsize (self.dispatch, DS_PROTO_MAX_FRAME);

    char *db_path = ds_service_db_path (config);
    self.store = db_path ? ds_store_new (db_path) : NULL;
    bool started = false;
    if (!self.store)
        ds_service_failed (pipe, "cannot open the database");
    else if (s_bind (pipe, self.intake,
                     ds_config_get (config, "queue-endpoint"))
             || s_bind (pipe, self.dispatch,
                        ds_config_get (config, "dispatch-endpoint")))
        ;
    else {
        started = true;
        //  Rebuild the queue from the store before taking new work
        zlistx_t *pending = ds_store_pending (self.store);
        ds_proto_t *queued = (ds_proto_t *) zlistx_first (pending);
        while (queued) {
            s_enqueue (&self, ds_proto_task_id (queued),
                       ds_proto_priority (queued));
            queued = (ds_proto_t *) zlistx_next (pending);
        }
        zlistx_destroy (&pending);

        char *queue_line =
            zsys_sprintf ("queue=%s", zsock_endpoint (self.intake));
        char *dispatch_line =
            zsys_sprintf ("dispatch=%s", zsock_endpoint (self.dispatch));
        const char *lines [] = {queue_line, dispatch_line, NULL};
        ds_service_ready (pipe, lines);
        zsys_info ("ds_ventilator: STARTED db=%s %s %s recovered=%zu", db_path,
                   queue_line, dispatch_line, self.size);
        zstr_free (&queue_line);
        zstr_free (&dispatch_line);
        s_run (&self);
        zsys_info ("ds_ventilator: STOPPED dispatched=%" PRIu64
                   " queued=%zu rejected=%" PRIu64,
                   self.dispatched, self.size, self.rejected);
    }
    //  Queued ids are still pending in the store: nothing is lost
    zsock_set_linger (self.dispatch, 0);
    zsock_destroy (&self.dispatch);
    zsock_destroy (&self.intake);
    ds_proto_destroy (&self.message);
    zhashx_destroy (&self.queued);
    for (int level = 0; level < VENTILATOR_LEVELS; level++)
        zlistx_destroy (&self.levels [level]);
    ds_store_destroy (&self.store);
    zstr_free (&db_path);
    if (!started) {
        char *command;
        while ((command = zstr_recv (pipe)) && !streq (command, "$TERM"))
            zstr_free (&command);
        zstr_free (&command);
    }
}


//  --------------------------------------------------------------------------
//  Self test: recovery from the store, priority order, intake, garbage

void
ds_ventilator_test (bool verbose)
{
    printf (" * ds_ventilator: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    char *data_dir =
        zsys_sprintf ("/tmp/ds_ventilator_test.%d", (int) getpid ());
    ds_config_t *config =
        ds_config_new ("ventilator", DS_ROLE_VENTILATOR, "test");
    ds_config_set (config, "data-dir", data_dir);
    ds_config_set (config, "queue-endpoint", "tcp://127.0.0.1:*");
    ds_config_set (config, "dispatch-endpoint", "tcp://127.0.0.1:*");
    char *db_path = ds_service_db_path (config);
    ds_store_t *store = ds_store_new (db_path);
    assert (store);
    //  Three tasks already pending, as after a restart
    zchunk_t *image = zchunk_new ("img", 3);
    assert (ds_store_insert_task (store, "low", "document", 1, &image, 1, NULL,
                                  NULL)
            == 0);
    assert (
        ds_store_insert_task (store, "urgent", "form", 9, &image, 1, NULL, NULL)
        == 0);
    assert (ds_store_insert_task (store, "normal", "document", 5, &image, 1,
                                  NULL, NULL)
            == 0);
    zchunk_destroy (&image);

    zactor_t *ventilator = zactor_new (ds_ventilator, config);
    char *status = zstr_recv (ventilator);
    assert (status && streq (status, "READY"));
    char *queue_line = zstr_recv (ventilator);
    char *dispatch_line = zstr_recv (ventilator);
    assert (strncmp (queue_line, "queue=", 6) == 0);
    assert (strncmp (dispatch_line, "dispatch=", 9) == 0);
    uint64_t queued = 0, dispatched = 0, rejected = 0;
    zstr_send (ventilator, "STATS");
    assert (zsock_recv (ventilator, "888", &queued, &dispatched, &rejected)
            == 0);
    assert (queued == 3 && dispatched == 0);

    //  A worker connects and receives the tasks most urgent first
    zsock_t *worker = zsock_new_pull (NULL);
    zsock_set_rcvtimeo (worker, 5000);
    assert (zsock_connect (worker, "%s", dispatch_line + 9) == 0);
    ds_proto_t *task = ds_proto_new (0);
    const char *expected [] = {"urgent", "normal", "low"};
    for (int task_nbr = 0; task_nbr < 3; task_nbr++) {
        assert (ds_proto_recv (task, worker) == 0);
        assert (ds_proto_type (task) == DS_PROTO_TASK);
        assert (streq (ds_proto_task_id (task), expected [task_nbr]));
        assert (ds_proto_attempt (task) == 1);
        assert (ds_proto_images (task) == 1);
    }

    //  A gateway queues one more; garbage is counted and skipped
    zsock_t *gateway = zsock_new_push (NULL);
    assert (zsock_connect (gateway, "%s", queue_line + 6) == 0);
    zstr_send (gateway, "not msgpack");
    image = zchunk_new ("img", 3);
    assert (ds_store_insert_task (store, "late", "document", 2, &image, 1, NULL,
                                  NULL)
            == 0);
    zchunk_destroy (&image);
    ds_proto_t *queue = ds_proto_new (DS_PROTO_QUEUE);
    ds_proto_set_task_id (queue, "late");
    ds_proto_set_task_type (queue, "document");
    ds_proto_set_priority (queue, 2);
    assert (ds_proto_send (queue, gateway) == 0);
    ds_proto_destroy (&queue);
    assert (ds_proto_recv (task, worker) == 0);
    assert (streq (ds_proto_task_id (task), "late"));
    zstr_send (ventilator, "STATS");
    assert (zsock_recv (ventilator, "888", &queued, &dispatched, &rejected)
            == 0);
    assert (queued == 0 && dispatched == 4 && rejected == 1);

    ds_proto_destroy (&task);
    zactor_destroy (&ventilator);
    zsock_destroy (&gateway);
    zsock_destroy (&worker);
    zstr_free (&status);
    zstr_free (&queue_line);
    zstr_free (&dispatch_line);
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
