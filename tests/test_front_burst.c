/*  =========================================================================
    test_front_burst - a client with thousands of requests outstanding gets
    every answer

    A ZMQ client may send many SUBMITs before it reads a REPLY. The gateway
    answers each batch after its commit, in a burst; the ROUTER's default
    high-water mark (1 000) silently dropped the answers past it when the
    client read slower than the gateway wrote (the benchmark lost five in
    100 000 at 1 024 outstanding). Here a client with small receive buffers
    sends BURST submissions and reads nothing until the gateway has stored
    them all, so that the answers wait in the gateway: every one must be
    answered 202, and the gateway must log no lost reply. Its log must
    name every stored task in its ACCEPTED lines, once. Then one
    idempotency key three times in a row makes one task.
    =========================================================================
*/

#include "testutil.h"

#define BURST 100000

int
main (void)
{
    const char *args [] = {"gateway:--enable-echo", "worker:--enable-echo",
                           "gateway:--max-queue=200000", NULL};
    th_harness_t *harness = th_harness_new ("front_burst", 1, args);
    ds_launcher_t *launcher = th_harness_launcher (harness);
    zsock_t *client = zsock_new (ZMQ_DEALER);
    zsock_set_rcvhwm (client, 10);
    zsock_set_rcvbuf (client, 4096);
    zsock_set_sndhwm (client, 0);
    TH_CHECK (
        zsock_connect (client, "%s", ds_launcher_endpoint (launcher, "front"))
            == 0,
        "connect to the front door");

    ds_proto_t *submit = ds_proto_new (DS_PROTO_SUBMIT);
    ds_proto_set_task_type (submit, "echo");
    for (int request_nbr = 0; request_nbr < BURST; request_nbr++) {
        char request_id [16];
        snprintf (request_id, sizeof (request_id), "%d", request_nbr);
        ds_proto_set_request_id (submit, request_id);
        TH_CHECK (ds_proto_send (submit, client) == 0, "send SUBMIT %d",
                  request_nbr);
    }
    ds_proto_destroy (&submit);

    //  Read nothing until every submission is stored (and answered)
    sqlite3 *db;
    TH_CHECK (sqlite3_open (th_harness_db (harness), &db) == SQLITE_OK,
              "open the store");
    sqlite3_busy_timeout (db, 10000);
    sqlite3_stmt *count;
    TH_CHECK (
        sqlite3_prepare_v2 (db, "SELECT COUNT (*) FROM tasks", -1, &count, NULL)
            == SQLITE_OK,
        "prepare");
    int64_t stored = 0;
    int64_t deadline = zclock_mono () + 60000;
    while (stored < BURST && zclock_mono () < deadline) {
        if (sqlite3_step (count) == SQLITE_ROW)
            stored = sqlite3_column_int64 (count, 0);
        sqlite3_reset (count);
        if (stored < BURST)
            zclock_sleep (50);
    }
    sqlite3_finalize (count);
    TH_CHECK (stored == BURST, "%" PRId64 " of %d submissions stored", stored,
              BURST);

    //  Every request answered, once, 202
    bool *answered = (bool *) zmalloc (BURST * sizeof (bool));
    ds_proto_t *reply = ds_proto_new (0);
    zsock_set_rcvtimeo (client, 30000);
    int replies = 0;
    while (replies < BURST && ds_proto_recv (reply, client) == 0) {
        TH_CHECK (ds_proto_type (reply) == DS_PROTO_REPLY, "a REPLY");
        TH_CHECK (ds_proto_status_code (reply) == 202, "202, not %d",
                  ds_proto_status_code (reply));
        int request_nbr = atoi (ds_proto_request_id (reply));
        TH_CHECK (request_nbr >= 0 && request_nbr < BURST
                      && !answered [request_nbr],
                  "request %d answered once", request_nbr);
        answered [request_nbr] = true;
        replies++;
    }
    TH_CHECK (replies == BURST, "%d of %d requests answered", replies, BURST);
    TH_CHECK (
        !th_file_contains (ds_launcher_log (launcher, "gateway"), "REPLY-LOST"),
        "the gateway lost no reply");

    //  The gateway's log names every stored task once, in ACCEPTED lines
    //  of at most eight ids that say how many they name (written before
    //  their answers went out)
    zhashx_t *logged = zhashx_new ();
    FILE *log = fopen (ds_launcher_log (launcher, "gateway"), "r");
    TH_CHECK (log, "open the gateway's log");
    char line [2048];
    while (fgets (line, sizeof (line), log)) {
        char *accepted = strstr (line, "ACCEPTED tasks=");
        if (!accepted)
            continue;
        int named = atoi (accepted + strlen ("ACCEPTED tasks="));
        char *ids = strstr (accepted, " ids=");
        TH_CHECK (ids && named >= 1 && named <= 8, "ACCEPTED line: %s", line);
        int listed = 0;
        for (char *id = strtok (ids + strlen (" ids="), ",\n"); id;
             id = strtok (NULL, ",\n")) {
            TH_CHECK (zhashx_insert (logged, id, "") == 0, "%s logged twice",
                      id);
            listed++;
        }
        TH_CHECK (listed == named, "%d ids in a line of %d: %s", listed, named,
                  line);
    }
    fclose (log);
    sqlite3_stmt *ids;
    TH_CHECK (sqlite3_prepare_v2 (db, "SELECT id FROM tasks", -1, &ids, NULL)
                  == SQLITE_OK,
              "prepare");
    while (sqlite3_step (ids) == SQLITE_ROW)
        TH_CHECK (
            zhashx_lookup (logged, (const char *) sqlite3_column_text (ids, 0)),
            "task %s stored but not logged", sqlite3_column_text (ids, 0));
    sqlite3_finalize (ids);
    TH_CHECK (zhashx_size (logged) == BURST, "%zu tasks logged, %d stored",
              zhashx_size (logged), BURST);
    zhashx_destroy (&logged);
    printf ("test_front_burst: %d requests sent before the first read, all "
            "answered\n",
            BURST);

    //  One idempotency key sent three times in a row (so, as a rule, in
    //  one batch, stored only when the batch is written): one task, whose
    //  id all three answers give; another key, another task
    const char *keys [] = {"same/1", "same/1", "same/1", "other/1"};
    submit = ds_proto_new (DS_PROTO_SUBMIT);
    ds_proto_set_task_type (submit, "echo");
    for (int key_nbr = 0; key_nbr < 4; key_nbr++) {
        char request_id [16];
        snprintf (request_id, sizeof (request_id), "key-%d", key_nbr);
        ds_proto_set_request_id (submit, request_id);
        ds_proto_set_idempotency_key (submit, keys [key_nbr]);
        TH_CHECK (ds_proto_send (submit, client) == 0, "send keyed SUBMIT");
    }
    ds_proto_destroy (&submit);
    char *task_ids [4] = {NULL};
    for (int answer_nbr = 0; answer_nbr < 4; answer_nbr++) {
        TH_CHECK (ds_proto_recv (reply, client) == 0, "a keyed REPLY");
        TH_CHECK (ds_proto_status_code (reply) == 202, "202, not %d: %s",
                  ds_proto_status_code (reply), ds_proto_result (reply));
        int key_nbr = atoi (ds_proto_request_id (reply) + strlen ("key-"));
        TH_CHECK (key_nbr >= 0 && key_nbr < 4 && !task_ids [key_nbr],
                  "keyed request %s answered once",
                  ds_proto_request_id (reply));
        json_t *body = json_loads (ds_proto_result (reply), 0, NULL);
        const char *task_id =
            json_string_value (json_object_get (body, "task_id"));
        TH_CHECK (task_id, "a task id in %s", ds_proto_result (reply));
        task_ids [key_nbr] = strdup (task_id);
        json_decref (body);
    }
    TH_CHECK (streq (task_ids [0], task_ids [1])
                  && streq (task_ids [0], task_ids [2]),
              "one key, one task: %s %s %s", task_ids [0], task_ids [1],
              task_ids [2]);
    TH_CHECK (!streq (task_ids [0], task_ids [3]), "another key, another task");
    sqlite3_stmt *keyed;
    TH_CHECK (sqlite3_prepare_v2 (db,
                                  "SELECT COUNT (*) FROM tasks WHERE "
                                  "idempotency_key IS NOT NULL",
                                  -1, &keyed, NULL)
                  == SQLITE_OK,
              "prepare");
    TH_CHECK (sqlite3_step (keyed) == SQLITE_ROW
                  && sqlite3_column_int (keyed, 0) == 2,
              "two keyed tasks stored, not %d", sqlite3_column_int (keyed, 0));
    sqlite3_finalize (keyed);
    for (int key_nbr = 0; key_nbr < 4; key_nbr++)
        zstr_free (&task_ids [key_nbr]);

    sqlite3_close (db);
    ds_proto_destroy (&reply);
    free (answered);
    zsock_destroy (&client);
    th_harness_destroy (&harness);
    printf ("test_front_burst: OK\n");
    return 0;
}
