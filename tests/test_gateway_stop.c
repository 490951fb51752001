/*  =========================================================================
    test_gateway_stop - SIGTERM to the gateway under HTTP load loses no
    accepted task

    64 HTTP clients submit as fast as they can, in keep-alive connections,
    one request in four with a body large enough for the gateway's parser
    thread; after a few hundred answers the gateway gets SIGTERM. It must
    exit 0;
    every request it answered 202 must be a row in SQLite (the 202 comes
    after the commit), any other answer a 503 or a closed connection; and
    once the gateway is back, every accepted task completes.
    =========================================================================
*/

#include "testutil.h"

#define CLIENTS 64
#define TERM_AFTER 300      //  answers before SIGTERM
#define MAX_REQUESTS 20000  //  submissions at most
#define LARGE_BODY 40000    //  bytes: over the gateway's 32 KB parse-away

typedef struct {
    zchunk_t *response;
} client_t;

static size_t
s_write (char *data, size_t size, size_t count, void *arg)
{
    zchunk_extend (((client_t *) arg)->response, data, size * count);
    return size * count;
}

static void
s_add (CURLM *multi,
       const char *url,
       struct curl_slist *headers,
       const char *body)
{
    client_t *client = (client_t *) zmalloc (sizeof (client_t));
    client->response = zchunk_new (NULL, 256);
    CURL *easy = curl_easy_init ();
    curl_easy_setopt (easy, CURLOPT_URL, url);
    curl_easy_setopt (easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_write);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, client);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, client);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, 30000L);
    curl_multi_add_handle (multi, easy);
}

int
main (void)
{
    const char *args [] = {"gateway:--enable-echo", "worker:--enable-echo",
                           NULL};
    th_harness_t *harness = th_harness_new ("gateway_stop", 1, args);
    ds_launcher_t *launcher = th_harness_launcher (harness);
    char *url = zsys_sprintf ("%s/api/process_echo", th_harness_url (harness));
    struct curl_slist *headers =
        curl_slist_append (NULL, "Content-Type: application/json");
    headers = curl_slist_append (headers, "Expect:");
    //  An echo task with a field the gateway ignores, to make it large
    char *large = (char *) zmalloc (LARGE_BODY + 32);
    strcpy (large, "{\"padding\": \"");
    memset (large + strlen (large), 'x', LARGE_BODY);
    strcat (large, "\"}");
    CURLM *multi = curl_multi_init ();
    zlist_t *accepted = zlist_new ();
    zlist_autofree (accepted);
    int answered = 0, unavailable = 0, dropped = 0, inflight = 0, sent = 0;
    bool termed = false;
    pid_t gateway = ds_launcher_pid (launcher, "gateway");
    int64_t deadline = zclock_mono () + 60000;
    while ((inflight > 0 || !termed) && zclock_mono () < deadline) {
        //  Keep CLIENTS requests in flight until the gateway is told to stop
        while (!termed && inflight < CLIENTS && sent < MAX_REQUESTS) {
            s_add (multi, url, headers, sent % 4 == 3 ? large : "{}");
            inflight++;
            sent++;
        }
        int running;
        curl_multi_perform (multi, &running);
        CURLMsg *message;
        int left;
        while ((message = curl_multi_info_read (multi, &left))) {
            if (message->msg != CURLMSG_DONE)
                continue;
            CURL *easy = message->easy_handle;
            client_t *client = NULL;
            curl_easy_getinfo (easy, CURLINFO_PRIVATE, (char **) &client);
            long status = 0;
            curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
            if (status == 202) {
                json_t *body =
                    json_loadb ((const char *) zchunk_data (client->response),
                                zchunk_size (client->response), 0, NULL);
                const char *task_id =
                    json_string_value (json_object_get (body, "task_id"));
                TH_CHECK (task_id, "a 202 names its task");
                zlist_append (accepted, (void *) task_id);
                json_decref (body);
                answered++;
            }
            else if (status == 503)
                unavailable++;
            else {
                TH_CHECK (status == 0 && termed,
                          "only a stopping gateway may drop a request "
                          "(HTTP %ld)",
                          status);
                dropped++;
            }
            curl_multi_remove_handle (multi, easy);
            curl_easy_cleanup (easy);
            zchunk_destroy (&client->response);
            free (client);
            inflight--;
        }
        if (!termed && answered >= TERM_AFTER) {
            kill (gateway, SIGTERM);
            termed = true;
        }
        curl_multi_poll (multi, NULL, 0, 10, NULL);
    }
    TH_CHECK (termed && inflight == 0, "the load ran and every request ended");
    TH_CHECK (ds_launcher_wait (launcher, "gateway", 30000) == 0,
              "the gateway exits 0 on SIGTERM under load");
    printf ("test_gateway_stop: %d accepted, %d answered 503, %d dropped by "
            "the stopping gateway\n",
            answered, unavailable, dropped);

    //  Every 202 is a row
    sqlite3 *db;
    TH_CHECK (sqlite3_open_v2 (th_harness_db (harness), &db,
                               SQLITE_OPEN_READONLY, NULL)
                  == SQLITE_OK,
              "open the store");
    sqlite3_busy_timeout (db, 10000);
    sqlite3_stmt *stmt;
    TH_CHECK (sqlite3_prepare_v2 (db,
                                  "SELECT COUNT (*) FROM tasks WHERE id = ?1",
                                  -1, &stmt, NULL)
                  == SQLITE_OK,
              "prepare");
    for (const char *task_id = (const char *) zlist_first (accepted); task_id;
         task_id = (const char *) zlist_next (accepted)) {
        sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
        TH_CHECK (sqlite3_step (stmt) == SQLITE_ROW
                      && sqlite3_column_int (stmt, 0) == 1,
                  "accepted task %s is stored", task_id);
        sqlite3_reset (stmt);
    }
    sqlite3_finalize (stmt);
    sqlite3_close (db);

    //  Back up, every accepted task completes
    TH_CHECK (ds_launcher_restart (launcher, "gateway") == 0,
              "gateway restarted");
    for (const char *task_id = (const char *) zlist_first (accepted); task_id;
         task_id = (const char *) zlist_next (accepted)) {
        json_t *status = th_wait_completed (harness, task_id, 30000);
        json_decref (status);
    }
    curl_multi_cleanup (multi);
    curl_slist_free_all (headers);
    zlist_destroy (&accepted);
    zstr_free (&url);
    free (large);
    th_harness_destroy (&harness);
    printf ("test_gateway_stop: OK\n");
    return 0;
}
