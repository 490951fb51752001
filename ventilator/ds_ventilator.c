/*  =========================================================================
    ds_ventilator - the queue: priorities, dispatch, leases, redelivery

    @header
    The queue holds only task ids; a task's inputs are read from the store
    at the moment it is dispatched, so queue memory stays small whatever
    the images weigh. At most a window of tasks is sent but not started
    (see s_window), and the loop polls the worker socket for POLLOUT only
    while the queue is not empty and the window has room: tasks wait here,
    in priority order, until workers start what they hold.

    Every dispatch takes a lease. The ventilator follows the sink's STATE
    stream: a STARTED or HEARTBEAT of the lease's attempt renews it, a
    terminal state ends it. A lease that runs out (no start within
    pickup-timeout, or no heartbeat within lease-timeout) puts the task
    back at the front of its priority, up to max-attempts dispatches; then
    the task ends in error WORKER_LOST, with the history of its attempts.
    A task running longer than task-timeout ends in error TIMEOUT. Those
    errors go to the sink as EVENTs, so the sink stays the one writer of
    terminal states. On start the queue is rebuilt from pending tasks and
    the leases from processing ones.
    @end
    =========================================================================
*/

#include "ds_ventilator_classes.h"

//  The window, not the high-water mark, bounds the tasks in transit. The
//  mark sets how often libzmq's I/O thread hands write credit back to this
//  loop (every (hwm + 1) / 2 messages, a wake-up of each side): a mark of
//  one made every TASK such a round trip, sixteen one per eight tasks. It
//  is the size of a burst, so a whole burst leaves in one go.
#define VENTILATOR_SNDHWM VENTILATOR_BURST
#define VENTILATOR_RCVHWM 100000
#define VENTILATOR_LEVELS (DS_PROTO_MAX_PRIORITY + 1)
#define VENTILATOR_TICK_MS 100
#define VENTILATOR_HISTORY_MAX 1024
#define VENTILATOR_WINDOW_WORK_MS 50  //  the window holds this much work
#define VENTILATOR_WINDOW_MAX 4096    //  tasks in transit at most
#define VENTILATOR_BURST 256          //  dispatches per loop at most

//  A lease: one task dispatched and not yet ended

typedef struct {
    char *task_id;           //  the task
    int priority;            //  its priority, for redelivery
    int attempt;             //  the attempt dispatched last
    int64_t deadline;        //  mono ms it runs out; 0 while queued
    int64_t first_dispatch;  //  mono ms of the first dispatch
    bool started;            //  a worker has started this attempt
    bool in_transit;         //  dispatched, not yet started
    char *worker;            //  who started it
    char *history;           //  what happened to earlier attempts
} lease_t;

//  Structure of the actor's state

typedef struct {
    zsock_t *pipe;                         //  actor pipe
    zsock_t *intake;                       //  PULL, bound: QUEUE from gateways
    zsock_t *dispatch;                     //  PUSH, bound: TASK to workers
    zsock_t *states;                       //  SUB, connected: sink's STATE
    zsock_t *events;                       //  PUSH, connected: EVENT to sink
    ds_store_t *store;                     //  task store
    ds_proto_t *message;                   //  reusable decoded message
    zlistx_t *levels [VENTILATOR_LEVELS];  //  task ids (char *) per priority
    zhash_t *queued;                       //  task ids in the queue, for dedupe
    zhash_t *leases;                       //  lease_t by task id, owned
    size_t size;                           //  ids in all levels
    int64_t lease_timeout;                 //  ms without a heartbeat
    int64_t pickup_timeout;                //  ms from dispatch to start
    int64_t task_timeout;                  //  ms from first dispatch to end
    int max_attempts;                      //  dispatches per task at most
    size_t in_transit;                     //  dispatched, not yet started
    size_t window_per_worker;              //  in transit per live worker
    double start_rate;                     //  starts seen per s, smoothed
    uint64_t starts;                       //  starts seen this tick
    bool reading;                          //  a read transaction is open
    zhashx_t *workers;                     //  last heard of (mono ms) by id
    size_t live_workers;                   //  workers heard of lately
    bool verbose;                          //  log each dispatch
    uint64_t dispatched;                   //  TASKs sent
    uint64_t redelivered;                  //  TASKs sent again
    uint64_t rejected;                     //  malformed frames
    size_t queued_peak;                    //  most ids queued at once
    size_t leases_peak;                    //  most leases held at once
} ventilator_t;


//  --------------------------------------------------------------------------
//  Free a lease

static void
s_lease_destroy (lease_t **lease_p)
{
    lease_t *lease = *lease_p;
    if (lease) {
        zstr_free (&lease->task_id);
        zstr_free (&lease->worker);
        zstr_free (&lease->history);
        free (lease);
        *lease_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Mark a lease in transit or not, keeping the count

static void
s_transit (ventilator_t *self, lease_t *lease, bool in_transit)
{
    if (lease->in_transit && !in_transit)
        self->in_transit--;
    else if (!lease->in_transit && in_transit)
        self->in_transit++;
    lease->in_transit = in_transit;
}


//  --------------------------------------------------------------------------
//  Forget a lease

static void
s_forget (ventilator_t *self, lease_t *lease)
{
    s_transit (self, lease, false);
    zhash_delete (self->leases, lease->task_id);
    s_lease_destroy (&lease);
}


//  --------------------------------------------------------------------------
//  How many tasks may be in transit: a few per live worker, so that tasks
//  wait here, in priority order, not in socket buffers

static size_t
s_window (ventilator_t *self)
{
    size_t workers = self->live_workers ? self->live_workers : 1;
    size_t window = workers * self->window_per_worker;
    //  Short tasks: as many as the workers start in the window's time, so
    //  the round trip through the sink does not bound the rate, while an
    //  urgent task still waits behind no more than that much work
    size_t by_rate =
        (size_t) (self->start_rate * VENTILATOR_WINDOW_WORK_MS / 1000);
    if (by_rate > window)
        window =
            by_rate < VENTILATOR_WINDOW_MAX ? by_rate : VENTILATOR_WINDOW_MAX;
    return window;
}


//  --------------------------------------------------------------------------
//  Add a task id at its priority, unless it is queued already; at the
//  front for a redelivery, so it does not wait behind newer work

static void
s_enqueue (ventilator_t *self, const char *task_id, int priority, bool front)
{
    if (zhash_lookup (self->queued, task_id))
        return;
    zhash_insert (self->queued, task_id, (void *) "");
    if (front)
        zlistx_add_start (self->levels [priority], (void *) task_id);
    else
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
            zhash_delete (self->queued, task_id);
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
        if (ds_proto_decode_msg (self->message, msg, DS_PROTO_QUEUE)) {
            ds_proto_log_rejected (self->message, "ds_ventilator", msg);
            self->rejected++;
        }
        else if (!zhash_lookup (self->leases, ds_proto_task_id (self->message)))
            s_enqueue (self, ds_proto_task_id (self->message),
                       ds_proto_priority (self->message), false);
        zmsg_destroy (&msg);
    }
}


//  --------------------------------------------------------------------------
//  End a task in error through the sink, and forget its lease

static void
s_fail (ventilator_t *self, lease_t *lease, const char *code, const char *text)
{
    zsys_warning ("ds_ventilator: TASK-FAILED task=%s code=%s attempts=%d "
                  "message=\"%s\"",
                  lease->task_id, code, lease->attempt, text);
    ds_proto_t *event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (event, lease->task_id);
    ds_proto_set_event (event, DS_EVENT_FAILED);
    ds_proto_set_worker (event, "ventilator");
    ds_proto_set_attempt (event, lease->attempt);
    ds_proto_set_time_ms (event, ds_util_now_ms ());
    ds_proto_set_error (event, code, text);
    ds_proto_send (event, self->events);
    ds_proto_destroy (&event);
    s_forget (self, lease);
}


//  --------------------------------------------------------------------------
//  Add a line to a lease's history

static void
s_history (lease_t *lease, const char *format, ...)
{
    char line [256];
    va_list args;
    va_start (args, format);
    vsnprintf (line, sizeof (line), format, args);
    va_end (args);
    char *joined = zsys_sprintf ("%s%s%s", lease->history ? lease->history : "",
                                 lease->history ? "; " : "", line);
    zstr_free (&lease->history);
    lease->history = joined;
    if (strlen (lease->history) > VENTILATOR_HISTORY_MAX)
        lease->history [VENTILATOR_HISTORY_MAX] = 0;
}


//  --------------------------------------------------------------------------
//  End the read transaction of a burst of dispatches, if one is open

static void
s_end_read (ventilator_t *self)
{
    if (self->reading) {
        ds_store_commit (self->store);
        self->reading = false;
    }
}


//  --------------------------------------------------------------------------
//  Record a redelivery's attempt; a write, so outside the read transaction

static void
s_set_attempts (ventilator_t *self, const char *task_id, int attempts)
{
    s_end_read (self);
    ds_store_set_attempts (self->store, task_id, attempts);
}


//  --------------------------------------------------------------------------
//  Send the most urgent task to the worker socket, which is writable.
//  Returns false when the socket would not take it.

static bool
s_dispatch (ventilator_t *self)
{
    char *task_id = s_dequeue (self);
    if (!task_id)
        return false;
    //  One read transaction for a burst of dispatches (s_run ends it)
    if (!self->reading)
        self->reading = ds_store_begin_read (self->store) == 0;
    ds_proto_t *task = ds_store_load_task (self->store, task_id);
    lease_t *lease = (lease_t *) zhash_lookup (self->leases, task_id);
    if (!task) {
        zsys_info ("ds_ventilator: SKIPPED task=%s (ended or gone)", task_id);
        if (lease)
            s_forget (self, lease);
        zstr_free (&task_id);
        return true;
    }
    //  The store knows the attempts that started, the lease those sent
    int attempt = ds_proto_attempt (task) + 1;
    if (lease && lease->attempt >= attempt)
        attempt = lease->attempt + 1;
    if (!lease) {
        lease = (lease_t *) zmalloc (sizeof (lease_t));
        assert (lease);
        lease->task_id = strdup (task_id);
        lease->first_dispatch = zclock_mono ();
        zhash_insert (self->leases, task_id, lease);
    }
    lease->priority = ds_proto_priority (task);
    if (attempt > self->max_attempts) {
        lease->attempt = attempt - 1;
        char *text = zsys_sprintf (
            "no worker finished the task in %d attempts: %s",
            self->max_attempts, lease->history ? lease->history : "");
        s_fail (self, lease, "WORKER_LOST", text);
        zstr_free (&text);
        ds_proto_destroy (&task);
        zstr_free (&task_id);
        return true;
    }
    ds_proto_set_attempt (task, attempt);
    //  A redelivery is on record before it can start, so a restarted
    //  ventilator counts it; a first attempt is recorded by its STARTED
    //  (one write per task fewer on the common path)
    if (attempt > 1)
        s_set_attempts (self, task_id, attempt);
    zframe_t *frame = ds_proto_encode (task);
    bool sent = zframe_send (&frame, self->dispatch, ZFRAME_DONTWAIT) == 0;
    if (sent) {
        self->dispatched++;
        if (attempt > 1)
            self->redelivered++;
        lease->attempt = attempt;
        lease->started = false;
        s_transit (self, lease, true);
        lease->deadline = zclock_mono () + self->pickup_timeout;
        zstr_free (&lease->worker);
        if (self->verbose || attempt > 1)
            zsys_info ("ds_ventilator: DISPATCHED task=%s priority=%d "
                       "attempt=%d queued=%zu",
                       task_id, ds_proto_priority (task), attempt, self->size);
    }
    else {
        //  The socket filled up after all: put the task back in front
        zframe_destroy (&frame);
        if (attempt > 1)
            s_set_attempts (self, task_id, attempt - 1);
        s_enqueue (self, task_id, ds_proto_priority (task), true);
    }
    ds_proto_destroy (&task);
    zstr_free (&task_id);
    return sent;
}


//  --------------------------------------------------------------------------
//  Follow the sink's STATE stream: renew or end leases

static void
s_state (ventilator_t *self)
{
    zmsg_t *msg;
    while ((msg = zmsg_recv (self->states))) {  //  rcvtimeo is 0
        if (ds_proto_decode_msg (self->message, msg, DS_PROTO_STATE) == 0) {
            const char *status = ds_proto_status (self->message);
            lease_t *lease = (lease_t *) zhash_lookup (
                self->leases, ds_proto_task_id (self->message));
            const char *worker = ds_proto_worker (self->message);
            if (streq (status, "processing") && *worker)
                zhashx_update (self->workers, worker,
                               (void *) (intptr_t) zclock_mono ());
            if (!lease)
                ;
            else if (streq (status, "processing")) {
                if (ds_proto_attempt (self->message) == lease->attempt
                    && lease->deadline) {
                    if (lease->in_transit)
                        self->starts++;
                    lease->started = true;
                    s_transit (self, lease, false);
                    lease->deadline = zclock_mono () + self->lease_timeout;
                    if (!lease->worker)
                        lease->worker =
                            strdup (ds_proto_worker (self->message));
                }
            }
            else if (!streq (status, "pending")) {
                if (lease->in_transit)  //  ended without a STARTED
                    self->starts++;
                s_forget (self, lease);
            }
        }
        zmsg_destroy (&msg);
    }
}


//  --------------------------------------------------------------------------
//  Act on leases that ran out, and tasks past their deadline

static void
s_check_leases (ventilator_t *self)
{
    int64_t now = zclock_mono ();
    //  Workers heard of within two lease periods are live
    size_t live = 0;
    void *seen = zhashx_first (self->workers);
    while (seen) {
        if (now - (int64_t) (intptr_t) seen <= 2 * self->lease_timeout)
            live++;
        seen = zhashx_next (self->workers);
    }
    self->live_workers = live;
    //  Starts per second, smoothed over about a second of ticks
    double rate = self->starts * 1000.0 / VENTILATOR_TICK_MS;
    self->start_rate = self->start_rate * 0.7 + rate * 0.3;
    self->starts = 0;
    zlistx_t *expired = zlistx_new ();
    lease_t *lease = (lease_t *) zhash_first (self->leases);
    while (lease) {
        if (lease->deadline && now >= lease->deadline)
            zlistx_add_end (expired, lease);
        else if (now - lease->first_dispatch > self->task_timeout)
            zlistx_add_end (expired, lease);
        lease = (lease_t *) zhash_next (self->leases);
    }
    //  Act after the walk: acting changes the table
    for (lease = (lease_t *) zlistx_first (expired); lease;
         lease = (lease_t *) zlistx_next (expired)) {
        if (now - lease->first_dispatch > self->task_timeout) {
            char *text = zsys_sprintf ("the task ran longer than %" PRId64
                                       " ms (attempt %d)",
                                       self->task_timeout, lease->attempt);
            s_fail (self, lease, "TIMEOUT", text);
            zstr_free (&text);
            continue;
        }
        if (lease->started)
            s_history (
                lease, "attempt %d on %s: no heartbeat for %" PRId64 " ms",
                lease->attempt, lease->worker ? lease->worker : "a worker",
                self->lease_timeout);
        else
            s_history (lease, "attempt %d: not started within %" PRId64 " ms",
                       lease->attempt, self->pickup_timeout);
        zsys_warning ("ds_ventilator: LEASE-EXPIRED task=%s attempt=%d "
                      "worker=%s started=%s",
                      lease->task_id, lease->attempt,
                      lease->worker ? lease->worker : "-",
                      lease->started ? "yes" : "no");
        if (lease->attempt >= self->max_attempts) {
            char *text =
                zsys_sprintf ("no worker finished the task in %d attempts: %s",
                              lease->attempt, lease->history);
            s_fail (self, lease, "WORKER_LOST", text);
            zstr_free (&text);
            continue;
        }
        lease->deadline = 0;
        s_transit (self, lease, false);
        s_enqueue (self, lease->task_id, lease->priority, true);
    }
    zlistx_destroy (&expired);
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
        zsock_send (self->pipe, "8888", (uint64_t) self->size, self->dispatched,
                    self->rejected, self->redelivered);
    else if (streq (command, "LEASES"))
        zsock_send (self->pipe, "8", (uint64_t) zhash_size (self->leases));
    else
        zsys_warning ("ds_ventilator: BAD-COMMAND command=%s", command);
    zstr_free (&command);
    return rc;
}


//  --------------------------------------------------------------------------
//  Bind a socket, or report failure; returns 0 or -1

static int
s_bind (zsock_t *pipe, ds_curve_t *curve, zsock_t *sock, const char *endpoint)
{
    if (ds_curve_bind (curve, sock, endpoint) >= 0)
        return 0;
    char *reason = zsys_sprintf ("cannot bind %s: %s", endpoint,
                                 zmq_strerror (zmq_errno ()));
    ds_service_failed (pipe, reason);
    zstr_free (&reason);
    return -1;
}


//  --------------------------------------------------------------------------
//  The main loop: intake, states, dispatch when writable, leases, commands

static void
s_run (ventilator_t *self)
{
    zmq_pollitem_t items [] = {
        {zsock_resolve (self->pipe), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->intake), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->states), 0, ZMQ_POLLIN, 0},
        {zsock_resolve (self->dispatch), 0, ZMQ_POLLOUT, 0},
    };
    int64_t next_check = zclock_mono () + VENTILATOR_TICK_MS;
    while (true) {
        //  Watch the worker socket only while there is work for it and
        //  room in the dispatch window
        int count = self->size && self->in_transit < s_window (self) ? 4 : 3;
        long timeout = (long) (next_check - zclock_mono ());
        if (zmq_poll (items, count, timeout < 0 ? 0 : timeout) == -1) {
            if (zmq_errno () == EINTR)
                continue;
            break;
        }
        if ((items [0].revents & ZMQ_POLLIN) && s_command (self))
            break;
        if (items [1].revents & ZMQ_POLLIN)
            s_intake (self);
        if (items [2].revents & ZMQ_POLLIN)
            s_state (self);
        if (count == 4 && (items [3].revents & ZMQ_POLLOUT))
            for (int burst = 0; burst < VENTILATOR_BURST && self->size
                                && self->in_transit < s_window (self);
                 burst++)
                if (!s_dispatch (self))
                    break;
        s_end_read (self);
        if (self->size > self->queued_peak)
            self->queued_peak = self->size;
        if (zhash_size (self->leases) > self->leases_peak)
            self->leases_peak = zhash_size (self->leases);
        if (zclock_mono () >= next_check) {
            s_check_leases (self);
            next_check = zclock_mono () + VENTILATOR_TICK_MS;
        }
    }
}


//  --------------------------------------------------------------------------
//  Rebuild the queue and the leases from the store

static void
s_recover (ventilator_t *self)
{
    zlistx_t *pending = ds_store_pending (self->store);
    ds_proto_t *task = (ds_proto_t *) zlistx_first (pending);
    while (task) {
        s_enqueue (self, ds_proto_task_id (task), ds_proto_priority (task),
                   false);
        task = (ds_proto_t *) zlistx_next (pending);
    }
    zlistx_destroy (&pending);
    //  A running task keeps its worker if that worker still beats
    zlistx_t *processing = ds_store_processing (self->store);
    task = (ds_proto_t *) zlistx_first (processing);
    while (task) {
        lease_t *lease = (lease_t *) zmalloc (sizeof (lease_t));
        assert (lease);
        lease->task_id = strdup (ds_proto_task_id (task));
        lease->priority = ds_proto_priority (task);
        lease->attempt = ds_proto_attempt (task);
        lease->first_dispatch = zclock_mono ();
        lease->started = true;
        lease->worker = strdup (ds_proto_worker (task));
        lease->deadline = zclock_mono () + self->lease_timeout;
        zhash_insert (self->leases, lease->task_id, lease);
        task = (ds_proto_t *) zlistx_next (processing);
    }
    zlistx_destroy (&processing);
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
    self.lease_timeout = ds_config_int (config, "lease-timeout");
    self.pickup_timeout = ds_config_int (config, "pickup-timeout");
    self.task_timeout = ds_config_int (config, "task-timeout");
    self.max_attempts = (int) ds_config_int (config, "max-attempts");
    self.window_per_worker = (size_t) ds_config_int (config, "dispatch-window");
    self.workers = zhashx_new ();
    zsock_signal (pipe, 0);

    for (int level = 0; level < VENTILATOR_LEVELS; level++) {
        self.levels [level] = zlistx_new ();
        zlistx_set_duplicator (self.levels [level],
                               (zlistx_duplicator_fn *) strdup);
        zlistx_set_destructor (self.levels [level],
                               (zlistx_destructor_fn *) zstr_free);
    }
    //  zhash, not zhashx: zhashx doubles its table whenever a lookup walks
    //  a chain longer than its limit, and lookups of new task ids did so
    //  by chance often enough to take the lease table from a few thousand
    //  buckets to 262 144 (2 MB) for a thousand leases, at a random point
    //  in a run; zhash grows by load alone
    self.queued = zhash_new ();
    self.leases = zhash_new ();
    self.message = ds_proto_new (0);
    self.intake = zsock_new (ZMQ_PULL);
    self.dispatch = zsock_new (ZMQ_PUSH);
    self.states = zsock_new (ZMQ_SUB);
    self.events = zsock_new (ZMQ_PUSH);
    assert (self.intake && self.dispatch && self.states && self.events);
    zsock_set_maxmsgsize (self.intake, DS_PROTO_MAX_FRAME);
    zsock_set_rcvhwm (self.intake, VENTILATOR_RCVHWM);
    zsock_set_rcvtimeo (self.intake, 0);
    zsock_set_sndhwm (self.dispatch, VENTILATOR_SNDHWM);
    zsock_set_maxmsgsize (self.dispatch, DS_PROTO_MAX_FRAME);
    zsock_set_subscribe (self.states, "");
    zsock_set_rcvhwm (self.states, VENTILATOR_RCVHWM);
    zsock_set_maxmsgsize (self.states, DS_PROTO_MAX_FRAME);
    zsock_set_rcvtimeo (self.states, 0);

    char *db_path = ds_service_db_path (config);
    self.store = ds_service_store (config, db_path);
    bool started = false;
    ds_curve_t *curve = NULL;
    if (!self.store)
        ds_service_failed (pipe, "cannot open the database");
    else if (!(curve = ds_service_curve (pipe, config, "ds_ventilator")))
        ;  //  FAILED sent
    else if (s_bind (pipe, curve, self.intake,
                     ds_config_get (config, "queue-endpoint"))
             || s_bind (pipe, curve, self.dispatch,
                        ds_config_get (config, "dispatch-endpoint")))
        ;
    else if (ds_curve_connect (curve, self.states,
                               ds_config_get (config, "publish-endpoint"))
             || ds_curve_connect (curve, self.events,
                                  ds_config_get (config, "events-endpoint")))
        ds_service_failed (pipe, "bad publish-endpoint or events-endpoint");
    else {
        started = true;
        s_recover (&self);
        char *queue_line =
            zsys_sprintf ("queue=%s", zsock_endpoint (self.intake));
        char *dispatch_line =
            zsys_sprintf ("dispatch=%s", zsock_endpoint (self.dispatch));
        const char *lines [] = {queue_line, dispatch_line, NULL};
        ds_service_ready (pipe, lines);
        zsys_info ("ds_ventilator: STARTED db=%s %s %s recovered-pending=%zu "
                   "recovered-leases=%zu",
                   db_path, queue_line, dispatch_line, self.size,
                   zhash_size (self.leases));
        zstr_free (&queue_line);
        zstr_free (&dispatch_line);
        s_run (&self);
        zsys_info ("ds_ventilator: STOPPED dispatched=%" PRIu64
                   " redelivered=%" PRIu64
                   " queued=%zu leases=%zu rejected=%" PRIu64
                   " queued-peak=%zu leases-peak=%zu",
                   self.dispatched, self.redelivered, self.size,
                   zhash_size (self.leases), self.rejected, self.queued_peak,
                   self.leases_peak);
    }
    //  Queued ids are still pending in the store: nothing is lost
    zsock_set_linger (self.dispatch, 0);
    zsock_set_linger (self.events, 1000);
    zsock_destroy (&self.dispatch);
    zsock_destroy (&self.intake);
    zsock_destroy (&self.states);
    zsock_destroy (&self.events);
    ds_curve_destroy (&curve);
    ds_proto_destroy (&self.message);
    zhash_destroy (&self.queued);
    lease_t *lease = (lease_t *) zhash_first (self.leases);
    while (lease) {
        s_lease_destroy (&lease);
        lease = (lease_t *) zhash_next (self.leases);
    }
    zhash_destroy (&self.leases);
    zhashx_destroy (&self.workers);
    for (int level = 0; level < VENTILATOR_LEVELS; level++)
        zlistx_destroy (&self.levels [level]);
    ds_store_destroy (&self.store);
    zstr_free (&db_path);
    if (!started)
        ds_service_await_term (pipe);
}


//  --------------------------------------------------------------------------
//  Self test: recovery from the store, priority order, intake, garbage,
//  and a lease that runs out is redelivered, then fails WORKER_LOST

//  What a self test runs the ventilator against: the test plays the sink
//  (a PUB for STATE, a PULL for EVENT), a gateway and a worker

typedef struct {
    zsock_t *publisher;   //  the sink's STATE stream
    zsock_t *sink;        //  the sink's EVENT intake
    zsock_t *gateway;     //  PUSH to the queue socket, once connected
    zsock_t *worker;      //  PULL from the dispatch socket, once connected
    ds_config_t *config;  //  the ventilator's
    char *db_path;        //  its database
    ds_store_t *store;    //  the test's own connection to it
    zactor_t *ventilator;
    char *queue_line;     //  "queue=ENDPOINT", from READY
    char *dispatch_line;  //  "dispatch=ENDPOINT", from READY
} rig_t;

//  Sockets, configuration and store; the ventilator starts in s_rig_start,
//  so that a test can put tasks in the store first. db is a file name in
//  data_dir, or NULL for the default

static rig_t *
s_rig_new (const char *data_dir, const char *db)
{
    rig_t *self = (rig_t *) zmalloc (sizeof (rig_t));
    assert (self);
    self->publisher = zsock_new (ZMQ_PUB);
    self->sink = zsock_new (ZMQ_PULL);
    assert (zsock_bind (self->publisher, "tcp://127.0.0.1:*") > 0);
    assert (zsock_bind (self->sink, "tcp://127.0.0.1:*") > 0);
    zsock_set_rcvtimeo (self->sink, 5000);
    self->config = ds_config_new ("ventilator", DS_ROLE_VENTILATOR, "test");
    ds_config_set (self->config, "data-dir", data_dir);
    if (db) {
        char *path = zsys_sprintf ("%s/%s", data_dir, db);
        ds_config_set (self->config, "db", path);
        zstr_free (&path);
    }
    ds_config_set (self->config, "queue-endpoint", "tcp://127.0.0.1:*");
    ds_config_set (self->config, "dispatch-endpoint", "tcp://127.0.0.1:*");
    ds_config_set (self->config, "publish-endpoint",
                   zsock_endpoint (self->publisher));
    ds_config_set (self->config, "events-endpoint",
                   zsock_endpoint (self->sink));
    self->db_path = ds_service_db_path (self->config);
    self->store = ds_store_new (self->db_path);
    assert (self->store);
    return self;
}

static void
s_rig_start (rig_t *self)
{
    self->ventilator = zactor_new (ds_ventilator, self->config);
    char *status = zstr_recv (self->ventilator);
    assert (status && streq (status, "READY"));
    zstr_free (&status);
    self->queue_line = zstr_recv (self->ventilator);
    self->dispatch_line = zstr_recv (self->ventilator);
    assert (strncmp (self->queue_line, "queue=", 6) == 0);
    assert (strncmp (self->dispatch_line, "dispatch=", 9) == 0);
}

//  Connect the worker (each receive waits up to 5 s) and the gateway

static void
s_rig_connect_worker (rig_t *self)
{
    self->worker = zsock_new_pull (NULL);
    zsock_set_rcvtimeo (self->worker, 5000);
    assert (zsock_connect (self->worker, "%s", self->dispatch_line + 9) == 0);
}

static void
s_rig_connect_gateway (rig_t *self)
{
    self->gateway = zsock_new_push (NULL);
    assert (zsock_connect (self->gateway, "%s", self->queue_line + 6) == 0);
}

//  The gateway queues a task

static void
s_rig_queue (rig_t *self, const char *task_id, int priority)
{
    ds_proto_t *queue = ds_proto_new (DS_PROTO_QUEUE);
    ds_proto_set_task_id (queue, task_id);
    ds_proto_set_task_type (queue, "document");
    ds_proto_set_priority (queue, priority);
    assert (ds_proto_send (queue, self->gateway) == 0);
    ds_proto_destroy (&queue);
}

static void
s_rig_destroy (rig_t **self_p)
{
    rig_t *self = *self_p;
    zactor_destroy (&self->ventilator);
    zsock_destroy (&self->gateway);
    zsock_destroy (&self->worker);
    zsock_destroy (&self->publisher);
    zsock_destroy (&self->sink);
    zstr_free (&self->queue_line);
    zstr_free (&self->dispatch_line);
    ds_store_destroy (&self->store);
    ds_config_destroy (&self->config);
    zstr_free (&self->db_path);
    free (self);
    *self_p = NULL;
}

//  The window, not the socket's high-water mark, keeps tasks here: with a
//  window of one, a worker that has not started its task gets no other,
//  and an urgent task queued meanwhile overtakes the ones that wait

static void
s_test_window (const char *data_dir)
{
    rig_t *rig = s_rig_new (data_dir, "window.db");
    ds_config_set (rig->config, "dispatch-window", "1");
    ds_store_t *store = rig->store;
    zchunk_t *image = zchunk_new ("img", 3);
    for (int task_nbr = 0; task_nbr < 5; task_nbr++) {
        char task_id [16];
        snprintf (task_id, sizeof (task_id), "bulk-%d", task_nbr);
        assert (ds_store_insert_task (store, task_id, "document", 1, &image, 1,
                                      NULL, NULL)
                == 0);
    }
    s_rig_start (rig);
    s_rig_connect_worker (rig);
    zactor_t *ventilator = rig->ventilator;
    zsock_t *worker = rig->worker;
    ds_proto_t *task = ds_proto_new (0);
    assert (ds_proto_recv (task, worker) == 0);
    char *first = strdup (ds_proto_task_id (task));
    assert (strncmp (first, "bulk-", 5) == 0);

    //  An urgent task arrives; the window is full, so nothing more leaves
    assert (ds_store_insert_task (store, "urgent", "document", 9, &image, 1,
                                  NULL, NULL)
            == 0);
    s_rig_connect_gateway (rig);
    s_rig_queue (rig, "urgent", 9);
    uint64_t queued = 0, dispatched = 0, rejected = 0, redelivered = 0;
    for (int tries = 0; queued < 5 && tries < 500; tries++) {
        //  Until the ventilator has read the QUEUE
        zstr_send (ventilator, "STATS");
        assert (zsock_recv (ventilator, "8888", &queued, &dispatched, &rejected,
                            &redelivered)
                == 0);
        if (queued < 5)
            zclock_sleep (10);
    }
    assert (queued == 5 && dispatched == 1);
    zsock_set_rcvtimeo (worker, 300);
    assert (ds_proto_recv (task, worker) == -1);

    //  The worker starts its task: the next one out is the urgent one
    ds_proto_t *state = ds_proto_new (DS_PROTO_STATE);
    ds_proto_set_task_id (state, first);
    ds_proto_set_status (state, "processing");
    ds_proto_set_attempt (state, 1);
    ds_proto_set_worker (state, "w1");
    zsock_set_rcvtimeo (worker, 100);
    int rc = -1;
    for (int tries = 0; rc && tries < 50; tries++) {  //  slow joiner
        zstr_sendm (rig->publisher, first);
        ds_proto_send (state, rig->publisher);
        rc = ds_proto_recv (task, worker);
    }
    assert (rc == 0);
    assert (streq (ds_proto_task_id (task), "urgent"));

    ds_proto_destroy (&state);
    ds_proto_destroy (&task);
    zchunk_destroy (&image);
    zstr_free (&first);
    s_rig_destroy (&rig);
}

void
ds_ventilator_test (bool verbose)
{
    printf (" * ds_ventilator: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    char *data_dir =
        zsys_sprintf ("/tmp/ds_ventilator_test.%d", (int) getpid ());
    rig_t *rig = s_rig_new (data_dir, NULL);
    //  Long enough for a STATE to arrive on a slow (sanitized, loaded) run
    ds_config_set (rig->config, "pickup-timeout", "1000");
    ds_config_set (rig->config, "max-attempts", "2");
    ds_config_set (rig->config, "dispatch-window", "10");
    ds_store_t *store = rig->store;
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

    s_rig_start (rig);
    zactor_t *ventilator = rig->ventilator;
    uint64_t queued = 0, dispatched = 0, rejected = 0, redelivered = 0;
    zstr_send (ventilator, "STATS");
    assert (zsock_recv (ventilator, "8888", &queued, &dispatched, &rejected,
                        &redelivered)
            == 0);
    assert (queued == 3 && dispatched == 0);

    //  A worker connects and receives the tasks most urgent first
    s_rig_connect_worker (rig);
    zsock_t *worker = rig->worker;
    ds_proto_t *task = ds_proto_new (0);
    const char *expected [] = {"urgent", "normal", "low"};
    for (int task_nbr = 0; task_nbr < 3; task_nbr++) {
        assert (ds_proto_recv (task, worker) == 0);
        assert (ds_proto_type (task) == DS_PROTO_TASK);
        assert (streq (ds_proto_task_id (task), expected [task_nbr]));
        assert (ds_proto_attempt (task) == 1);
        assert (ds_proto_images (task) == 1);
    }
    //  The urgent one completes: its lease ends, it is not sent again.
    //  Published until the ventilator holds one lease fewer (a SUB socket
    //  hears nothing until its subscription has reached the publisher)
    ds_proto_t *state = ds_proto_new (DS_PROTO_STATE);
    ds_proto_set_task_id (state, "urgent");
    ds_proto_set_status (state, "completed");
    ds_proto_set_attempt (state, 1);
    uint64_t leases = 3;
    for (int tries = 0; leases == 3 && tries < 500; tries++) {
        zstr_sendm (rig->publisher, "urgent");
        ds_proto_send (state, rig->publisher);
        zclock_sleep (10);
        zstr_send (ventilator, "LEASES");
        assert (zsock_recv (ventilator, "8", &leases) == 0);
    }
    assert (leases == 2);
    ds_proto_destroy (&state);

    //  A gateway queues one more; garbage is counted and skipped
    s_rig_connect_gateway (rig);
    zstr_send (rig->gateway, "not msgpack");
    image = zchunk_new ("img", 3);
    assert (ds_store_insert_task (store, "late", "document", 2, &image, 1, NULL,
                                  NULL)
            == 0);
    zchunk_destroy (&image);
    s_rig_queue (rig, "late", 2);
    assert (ds_proto_recv (task, worker) == 0);
    assert (streq (ds_proto_task_id (task), "late"));

    //  Nobody starts the others: each is sent once more (attempt 2) ...
    const char *again [] = {"normal", "low", "late"};
    int seen = 0;
    while (seen < 3) {
        assert (ds_proto_recv (task, worker) == 0);
        assert (!streq (ds_proto_task_id (task), "urgent"));
        assert (ds_proto_attempt (task) == 2);
        for (int task_nbr = 0; task_nbr < 3; task_nbr++)
            if (streq (ds_proto_task_id (task), again [task_nbr]))
                seen++;
    }
    //  ... then ends in error WORKER_LOST, through the sink, with history
    ds_proto_t *event = ds_proto_new (0);
    for (int task_nbr = 0; task_nbr < 3; task_nbr++) {
        assert (ds_proto_recv (event, rig->sink) == 0);
        assert (ds_proto_event (event) == DS_EVENT_FAILED);
        assert (streq (ds_proto_error_code (event), "WORKER_LOST"));
        assert (strstr (ds_proto_error_text (event),
                        "attempt 1: not started within 1000 ms; attempt 2"));
        assert (!streq (ds_proto_task_id (event), "urgent"));
    }
    ds_proto_destroy (&event);
    zstr_send (ventilator, "STATS");
    assert (zsock_recv (ventilator, "8888", &queued, &dispatched, &rejected,
                        &redelivered)
            == 0);
    assert (queued == 0 && dispatched == 7 && rejected == 1
            && redelivered == 3);
    int attempts = 0;
    char *state_text = ds_store_task_state (store, "low", NULL, &attempts);
    assert (attempts == 2);
    zstr_free (&state_text);

    ds_proto_destroy (&task);
    s_rig_destroy (&rig);
    s_test_window (data_dir);
    char *command = zsys_sprintf ("rm -rf '%s'", data_dir);
    assert (system (command) == 0);
    zstr_free (&command);
    zstr_free (&data_dir);
    //  @end
    printf ("OK\n");
}
