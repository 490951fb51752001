/*  =========================================================================
    ds_store - the task store: one SQLite database in WAL mode

    @header
    Owns one sqlite3 connection and its prepared statements. Times are
    stored as milliseconds since the epoch and shown as RFC 3339 text.
    Terminal states are final: every update that moves a task is guarded
    by "status IN ('pending','processing')", so the first terminal event
    wins and late duplicates change nothing.
    @end
    =========================================================================
*/

#include "ds_classes.h"

#define STORE_BUSY_TIMEOUT_MS 10000  //  wait for another's write lock
#define STORE_BUSY_FIRST_US 10       //  first pause, doubled each try
#define STORE_BUSY_MAX_US 200        //  longest pause

static const char *s_schema =
    "CREATE TABLE IF NOT EXISTS tasks ("
    "  id TEXT PRIMARY KEY,"
    "  type TEXT NOT NULL,"
    "  status TEXT NOT NULL,"
    "  priority INTEGER NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  started_at INTEGER,"
    "  finished_at INTEGER,"
    "  worker TEXT,"
    "  result TEXT,"
    "  error_code TEXT,"
    "  error_message TEXT,"
    "  content_hash TEXT,"
    "  form TEXT,"
    "  file_lib TEXT,"
    "  idempotency_key TEXT);"
    "CREATE INDEX IF NOT EXISTS tasks_status ON tasks (status, created_at);"
    "CREATE TABLE IF NOT EXISTS task_images ("
    "  task_id TEXT NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
    "  page INTEGER NOT NULL,"
    "  data BLOB NOT NULL,"
    "  UNIQUE (task_id, page));";

#define GUARD "status IN ('pending', 'processing')"

enum {
    STMT_INSERT_TASK,
    STMT_INSERT_IMAGE,
    STMT_STATUS,
    STMT_PENDING,
    STMT_LOAD_TASK,
    STMT_LOAD_IMAGES,
    STMT_STARTED,
    STMT_COMPLETED,
    STMT_FAILED,
    STMT_CANCEL,
    STMT_BY_KEY,
    STMT_HEARTBEAT,
    STMT_STATE,
    STMT_PROCESSING,
    STMT_SET_ATTEMPTS,
    STMT_EXPIRE,
    STMT_COUNT_ALL,
    STMT_COUNT_STATUS,
    STMT_BEGIN,
    STMT_BEGIN_READ,
    STMT_COMMIT,
    STMT_ROLLBACK,
    STMT_SAVEPOINT,
    STMT_RELEASE,
    STMT_ROLLBACK_TO,
    STMT_TOTAL
};

static const char *s_statements [STMT_TOTAL] = {
    "INSERT INTO tasks (id, type, status, priority, created_at, updated_at,"
    " content_hash, form, file_lib, idempotency_key) VALUES (?1, ?2,"
    " 'pending', ?3, ?4, ?4, ?5, ?6, ?7, ?8)",
    "INSERT INTO task_images (task_id, page, data) VALUES (?1, ?2, ?3)",
    "SELECT id, type, status, priority, attempts, created_at, updated_at,"
    " started_at, finished_at, worker, result, error_code, error_message"
    " FROM tasks WHERE id = ?1",
    "SELECT id, type, priority, attempts FROM tasks WHERE status = 'pending'"
    " ORDER BY created_at",
    "SELECT type, priority, attempts, form, file_lib FROM tasks"
    " WHERE id = ?1 AND " GUARD,
    "SELECT data FROM task_images WHERE task_id = ?1 ORDER BY page",
    "UPDATE tasks SET status = 'processing', started_at = ?2, worker = ?3,"
    " attempts = MAX (attempts, ?4), updated_at = ?2 WHERE id = ?1 AND " GUARD,
    "UPDATE tasks SET status = 'completed', finished_at = ?2, worker = ?3,"
    " attempts = MAX (attempts, ?4), updated_at = ?2, result = ?5,"
    " started_at = COALESCE (started_at, ?2) WHERE id = ?1 AND " GUARD,
    "UPDATE tasks SET status = 'error', finished_at = ?2, worker = ?3,"
    " attempts = MAX (attempts, ?4), updated_at = ?2, error_code = ?5,"
    " error_message = ?6 WHERE id = ?1 AND " GUARD,
    "UPDATE tasks SET status = 'cancelled', finished_at = ?2, updated_at = ?2"
    " WHERE id = ?1 AND " GUARD,
    "SELECT id FROM tasks WHERE idempotency_key = ?1",
    //  A heartbeat for a task still pending means its STARTED was lost
    //  (a sink that died before committing it): it counts as the start
    "UPDATE tasks SET status = 'processing', started_at = COALESCE"
    " (started_at, ?2), worker = ?3, attempts = MAX (attempts, ?4),"
    " updated_at = ?2 WHERE id = ?1 AND status = 'pending'",
    "SELECT status, error_code, attempts FROM tasks WHERE id = ?1",
    "SELECT id, type, priority, attempts, worker FROM tasks"
    " WHERE status = 'processing' ORDER BY created_at",
    "UPDATE tasks SET attempts = ?2 WHERE id = ?1 AND " GUARD,
    //  Through the status index: a task that finished before the time was
    //  created before it, so only those rows are looked at, not the table
    "DELETE FROM tasks WHERE rowid IN (SELECT rowid FROM tasks"
    " WHERE status IN ('completed', 'error', 'cancelled')"
    " AND created_at < ?1 AND finished_at < ?1 LIMIT ?2)",
    "SELECT COUNT (*) FROM tasks",
    "SELECT COUNT (*) FROM tasks WHERE status = ?1",
    "BEGIN IMMEDIATE",
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "SAVEPOINT task",
    "RELEASE task",
    "ROLLBACK TO task",
};

//  Structure of our class

struct _ds_store_t {
    sqlite3 *db;                      //  the connection
    sqlite3_stmt *stmt [STMT_TOTAL];  //  prepared statements
    char *path;                       //  database file
    int64_t busy_timeout;             //  us to wait for a lock
    int64_t busy_since;               //  mono us the current wait began
    uint64_t busy_waits;              //  pauses waiting for a lock
};


//  --------------------------------------------------------------------------
//  Another connection holds the lock we need (the gateway's and the sink's
//  write batches take turns): pause and try again, from 10 us doubling to
//  200 us, until the busy timeout. SQLite's own handler pauses at least
//  1 ms, several times longer than a batch holds the lock, and the stall
//  of the waiting service held up the whole pipeline.

static int
s_busy (void *arg, int count)
{
    ds_store_t *self = (ds_store_t *) arg;
    int64_t now = zclock_usecs ();
    if (count == 0)
        self->busy_since = now;
    if (now - self->busy_since >= self->busy_timeout)
        return 0;  //  SQLITE_BUSY to the caller
    int64_t pause = STORE_BUSY_MAX_US;
    if (count < 5)
        pause = STORE_BUSY_FIRST_US << count;
    if (pause > STORE_BUSY_MAX_US)
        pause = STORE_BUSY_MAX_US;
    struct timespec interval = {0, (long) pause * 1000};
    nanosleep (&interval, NULL);
    self->busy_waits++;
    return 1;
}


//  --------------------------------------------------------------------------
//  Open the database, create the schema, prepare every statement

ds_store_t *
ds_store_new (const char *path)
{
    assert (path);
    ds_store_t *self = (ds_store_t *) zmalloc (sizeof (ds_store_t));
    assert (self);
    self->path = strdup (path);
    int rc = sqlite3_open_v2 (
        path, &self->db,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
        self->busy_timeout = STORE_BUSY_TIMEOUT_MS * 1000;
        sqlite3_busy_handler (self->db, s_busy, self);
        rc = sqlite3_exec (self->db,
                           "PRAGMA journal_mode = WAL;"
                           "PRAGMA synchronous = NORMAL;"
                           "PRAGMA foreign_keys = ON;",
                           NULL, NULL, NULL);
    }
    //  Schema and migrations in one write transaction: services that open
    //  the file at the same moment take turns
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (self->db, s_schema, NULL, NULL, NULL);
    int version = 0;
    if (rc == SQLITE_OK) {
        sqlite3_stmt *stmt;
        rc = sqlite3_prepare_v2 (self->db, "PRAGMA user_version", -1, &stmt,
                                 NULL);
        if (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
            version = sqlite3_column_int (stmt, 0);
        sqlite3_finalize (stmt);
    }
    if (rc == SQLITE_OK && version > DS_STORE_SCHEMA_VERSION) {
        zsys_error ("ds_store: SCHEMA-NEWER path=%s version=%d supported=%d",
                    path, version, DS_STORE_SCHEMA_VERSION);
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
        ds_store_destroy (&self);
        return NULL;
    }
    //  Version 2: idempotency keys (a version 1 file gains the column)
    if (rc == SQLITE_OK && version < 2) {
        sqlite3_stmt *probe = NULL;
        if (sqlite3_prepare_v2 (self->db,
                                "SELECT idempotency_key FROM tasks LIMIT 0", -1,
                                &probe, NULL)
            != SQLITE_OK)
            rc = sqlite3_exec (self->db,
                               "ALTER TABLE tasks ADD COLUMN idempotency_key "
                               "TEXT",
                               NULL, NULL, NULL);
        sqlite3_finalize (probe);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (self->db,
                           "CREATE UNIQUE INDEX IF NOT EXISTS tasks_idempotency"
                           " ON tasks (idempotency_key)"
                           " WHERE idempotency_key IS NOT NULL",
                           NULL, NULL, NULL);
    if (rc == SQLITE_OK && version < DS_STORE_SCHEMA_VERSION)
        rc = sqlite3_exec (self->db, "PRAGMA user_version = 2", NULL, NULL,
                           NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (self->db, "COMMIT", NULL, NULL, NULL);
    else if (self->db)
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    for (int stmt_nbr = 0; stmt_nbr < STMT_TOTAL && rc == SQLITE_OK; stmt_nbr++)
        rc = sqlite3_prepare_v3 (self->db, s_statements [stmt_nbr], -1,
                                 SQLITE_PREPARE_PERSISTENT,
                                 &self->stmt [stmt_nbr], NULL);
    if (rc != SQLITE_OK) {
        zsys_error ("ds_store: OPEN-FAIL path=%s error=%s", path,
                    self->db ? sqlite3_errmsg (self->db) : "out of memory");
        ds_store_destroy (&self);
    }
    return self;
}


//  --------------------------------------------------------------------------
//  Close the database

void
ds_store_destroy (ds_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        ds_store_t *self = *self_p;
        for (int stmt_nbr = 0; stmt_nbr < STMT_TOTAL; stmt_nbr++)
            sqlite3_finalize (self->stmt [stmt_nbr]);
        if (self->db)
            sqlite3_close (self->db);
        zstr_free (&self->path);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Delete a database and the files SQLite keeps beside it in WAL mode

void
ds_store_remove (const char *path)
{
    const char *suffixes [] = {"", "-wal", "-shm", NULL};
    for (const char **suffix = suffixes; *suffix; suffix++) {
        char *file = zsys_sprintf ("%s%s", path, *suffix);
        zsys_file_delete (file);
        zstr_free (&file);
    }
}


//  --------------------------------------------------------------------------
//  Commit durably (fsync at every commit) or not

int
ds_store_set_durable (ds_store_t *self, bool durable)
{
    return sqlite3_exec (self->db,
                         durable ? "PRAGMA synchronous = FULL"
                                 : "PRAGMA synchronous = NORMAL",
                         NULL, NULL, NULL)
                   == SQLITE_OK
               ? 0
               : -1;
}


//  --------------------------------------------------------------------------
//  How long to wait for another connection's lock before failing

void
ds_store_set_busy_timeout (ds_store_t *self, int msecs)
{
    self->busy_timeout = (int64_t) msecs * 1000;
}


//  --------------------------------------------------------------------------
//  Pauses this connection made waiting for another's lock

uint64_t
ds_store_busy_waits (ds_store_t *self)
{
    return self->busy_waits;
}


//  --------------------------------------------------------------------------
//  Last error

const char *
ds_store_error (ds_store_t *self)
{
    return sqlite3_errmsg (self->db);
}


//  --------------------------------------------------------------------------
//  Run a statement that returns no rows, then reset it. Returns 0 or -1.

static int
s_exec (ds_store_t *self, sqlite3_stmt *stmt)
{
    int rc = sqlite3_step (stmt);
    if (rc != SQLITE_DONE)
        zsys_warning ("ds_store: SQL-FAIL error=%s sql=%.60s",
                      sqlite3_errmsg (self->db), sqlite3_sql (stmt));
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return rc == SQLITE_DONE ? 0 : -1;
}


//  --------------------------------------------------------------------------
//  Bind text, NULL when value is NULL or empty

static void
s_bind_text (sqlite3_stmt *stmt, int index, const char *value)
{
    if (value && *value)
        sqlite3_bind_text (stmt, index, value, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null (stmt, index);
}


//  --------------------------------------------------------------------------
//  Insert a task and its images, committed before return

int
ds_store_insert_task (ds_store_t *self,
                      const char *task_id,
                      const char *task_type,
                      int priority,
                      zchunk_t **images,
                      size_t count,
                      const char *form,
                      const char *file_lib)
{
    return ds_store_insert_keyed (self, task_id, task_type, priority, images,
                                  count, form, file_lib, NULL, NULL);
}


//  --------------------------------------------------------------------------
//  Content hash: SHA-256 over each input in order, as hex

void
ds_store_content_hash (zchunk_t **images,
                       size_t count,
                       const char *form,
                       const char *file_lib,
                       char *digest)
{
    EVP_MD_CTX *context = EVP_MD_CTX_new ();
    assert (context);
    EVP_DigestInit_ex (context, EVP_sha256 (), NULL);
    for (size_t image_nbr = 0; image_nbr < count; image_nbr++)
        EVP_DigestUpdate (context, zchunk_data (images [image_nbr]),
                          zchunk_size (images [image_nbr]));
    if (form)
        EVP_DigestUpdate (context, form, strlen (form));
    if (file_lib)
        EVP_DigestUpdate (context, file_lib, strlen (file_lib));
    unsigned char hash [EVP_MAX_MD_SIZE];
    unsigned int hash_size = 0;
    EVP_DigestFinal_ex (context, hash, &hash_size);
    EVP_MD_CTX_free (context);
    assert (hash_size * 2 + 1 == DS_STORE_HASH_SIZE);
    ds_util_hex (hash, hash_size, digest);
}


//  --------------------------------------------------------------------------
//  Insert a task with an idempotency key

int
ds_store_insert_keyed (ds_store_t *self,
                       const char *task_id,
                       const char *task_type,
                       int priority,
                       zchunk_t **images,
                       size_t count,
                       const char *form,
                       const char *file_lib,
                       const char *idempotency_key,
                       const char *content_hash)
{
    assert (self);
    char digest [DS_STORE_HASH_SIZE];
    if (!content_hash) {
        ds_store_content_hash (images, count, form, file_lib, digest);
        content_hash = digest;
    }

    //  Its own transaction, or a savepoint in the caller's batch
    bool nested = !sqlite3_get_autocommit (self->db);
    if (s_exec (self, self->stmt [nested ? STMT_SAVEPOINT : STMT_BEGIN]))
        return -1;
    sqlite3_stmt *stmt = self->stmt [STMT_INSERT_TASK];
    sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, task_type, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 3, priority);
    sqlite3_bind_int64 (stmt, 4, ds_util_now_ms ());
    sqlite3_bind_text (stmt, 5, content_hash, -1, SQLITE_STATIC);
    s_bind_text (stmt, 6, form);
    s_bind_text (stmt, 7, file_lib);
    s_bind_text (stmt, 8, idempotency_key);
    int rc = s_exec (self, stmt);
    stmt = self->stmt [STMT_INSERT_IMAGE];
    for (size_t image_nbr = 0; image_nbr < count && rc == 0; image_nbr++) {
        sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
        sqlite3_bind_int (stmt, 2, (int) image_nbr);
        sqlite3_bind_blob64 (stmt, 3, zchunk_data (images [image_nbr]),
                             zchunk_size (images [image_nbr]), SQLITE_STATIC);
        rc = s_exec (self, stmt);
    }
    if (nested) {
        if (rc)
            s_exec (self, self->stmt [STMT_ROLLBACK_TO]);
        s_exec (self, self->stmt [STMT_RELEASE]);
        return rc;
    }
    if (rc == 0)
        rc = s_exec (self, self->stmt [STMT_COMMIT]);
    if (rc)
        s_exec (self, self->stmt [STMT_ROLLBACK]);
    return rc;
}


//  --------------------------------------------------------------------------
//  Set a time column on a JSON object as RFC 3339 text (null if NULL)

static void
s_json_time (json_t *object, const char *key, sqlite3_stmt *stmt, int column)
{
    if (sqlite3_column_type (stmt, column) == SQLITE_NULL)
        json_object_set_new (object, key, json_null ());
    else {
        char buffer [32];
        ds_util_iso_time (sqlite3_column_int64 (stmt, column), buffer,
                          sizeof (buffer));
        json_object_set_new (object, key, json_string (buffer));
    }
}


//  --------------------------------------------------------------------------
//  Status of a task as JSON

json_t *
ds_store_task_status (ds_store_t *self, const char *task_id)
{
    assert (self);
    sqlite3_stmt *stmt = self->stmt [STMT_STATUS];
    sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
    json_t *status = NULL;
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW) {
        status = json_object ();
        json_object_set_new (
            status, "task_id",
            json_string ((const char *) sqlite3_column_text (stmt, 0)));
        json_object_set_new (
            status, "type",
            json_string ((const char *) sqlite3_column_text (stmt, 1)));
        const char *state = (const char *) sqlite3_column_text (stmt, 2);
        json_object_set_new (status, "status", json_string (state));
        json_object_set_new (status, "priority",
                             json_integer (sqlite3_column_int (stmt, 3)));
        json_object_set_new (status, "attempts",
                             json_integer (sqlite3_column_int (stmt, 4)));
        s_json_time (status, "created_at", stmt, 5);
        s_json_time (status, "updated_at", stmt, 6);
        s_json_time (status, "started_at", stmt, 7);
        s_json_time (status, "finished_at", stmt, 8);
        if (sqlite3_column_type (stmt, 9) != SQLITE_NULL)
            json_object_set_new (
                status, "worker",
                json_string ((const char *) sqlite3_column_text (stmt, 9)));
        if (streq (state, "completed")) {
            const char *text = (const char *) sqlite3_column_text (stmt, 10);
            json_t *result = text ? json_loads (text, 0, NULL) : NULL;
            json_object_set_new (status, "result",
                                 result ? result : json_null ());
        }
        if (sqlite3_column_type (stmt, 11) != SQLITE_NULL) {
            json_t *error = json_object ();
            json_object_set_new (
                error, "code",
                json_string ((const char *) sqlite3_column_text (stmt, 11)));
            const char *message = (const char *) sqlite3_column_text (stmt, 12);
            json_object_set_new (error, "message",
                                 json_string (message ? message : ""));
            json_object_set_new (status, "error", error);
        }
    }
    else if (rc != SQLITE_DONE)
        zsys_warning ("ds_store: SQL-FAIL error=%s", sqlite3_errmsg (self->db));
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return status;
}


static void
s_proto_destroy (void **item)
{
    ds_proto_destroy ((ds_proto_t **) item);
}


//  --------------------------------------------------------------------------
//  Pending tasks as QUEUE messages, oldest first

zlistx_t *
ds_store_pending (ds_store_t *self)
{
    assert (self);
    zlistx_t *pending = zlistx_new ();
    assert (pending);
    zlistx_set_destructor (pending, s_proto_destroy);
    sqlite3_stmt *stmt = self->stmt [STMT_PENDING];
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        int priority = sqlite3_column_int (stmt, 2);
        if (priority < 0 || priority > DS_PROTO_MAX_PRIORITY)
            continue;  //  not written by us; never dispatch it
        ds_proto_t *queue = ds_proto_new (DS_PROTO_QUEUE);
        ds_proto_set_task_id (queue,
                              (const char *) sqlite3_column_text (stmt, 0));
        ds_proto_set_task_type (queue,
                                (const char *) sqlite3_column_text (stmt, 1));
        ds_proto_set_priority (queue, priority);
        ds_proto_set_attempt (queue, sqlite3_column_int (stmt, 3));
        zlistx_add_end (pending, queue);
    }
    sqlite3_reset (stmt);
    return pending;
}


//  --------------------------------------------------------------------------
//  Build the TASK message for a task

ds_proto_t *
ds_store_load_task (ds_store_t *self, const char *task_id)
{
    assert (self);
    sqlite3_stmt *stmt = self->stmt [STMT_LOAD_TASK];
    sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
    ds_proto_t *task = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        int priority = sqlite3_column_int (stmt, 1);
        task = ds_proto_new (DS_PROTO_TASK);
        ds_proto_set_task_id (task, task_id);
        ds_proto_set_task_type (task,
                                (const char *) sqlite3_column_text (stmt, 0));
        ds_proto_set_priority (task, priority < 0 ? 0
                                     : priority > DS_PROTO_MAX_PRIORITY
                                         ? DS_PROTO_MAX_PRIORITY
                                         : priority);
        ds_proto_set_attempt (task, sqlite3_column_int (stmt, 2));
        ds_proto_set_form (task, (const char *) sqlite3_column_text (stmt, 3));
        ds_proto_set_file_lib (task,
                               (const char *) sqlite3_column_text (stmt, 4));
    }
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    if (task) {
        stmt = self->stmt [STMT_LOAD_IMAGES];
        sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
        while (sqlite3_step (stmt) == SQLITE_ROW
               && ds_proto_images (task) < DS_PROTO_MAX_IMAGES)
            ds_proto_add_image (task, sqlite3_column_blob (stmt, 0),
                                (size_t) sqlite3_column_bytes (stmt, 0));
        sqlite3_reset (stmt);
        sqlite3_clear_bindings (stmt);
    }
    return task;
}


//  --------------------------------------------------------------------------
//  Begin and commit a batch

int
ds_store_begin (ds_store_t *self)
{
    return s_exec (self, self->stmt [STMT_BEGIN]);
}

int
ds_store_commit (ds_store_t *self)
{
    int rc = s_exec (self, self->stmt [STMT_COMMIT]);
    if (rc)
        s_exec (self, self->stmt [STMT_ROLLBACK]);
    return rc;
}


//  --------------------------------------------------------------------------
//  Begin a batch of reads: one snapshot, one lock round for all of them

int
ds_store_begin_read (ds_store_t *self)
{
    return s_exec (self, self->stmt [STMT_BEGIN_READ]);
}


//  --------------------------------------------------------------------------
//  Abandon a batch

void
ds_store_rollback (ds_store_t *self)
{
    s_exec (self, self->stmt [STMT_ROLLBACK]);
}


//  --------------------------------------------------------------------------
//  Apply one event

int
ds_store_apply_event (ds_store_t *self, ds_proto_t *event)
{
    assert (self);
    assert (ds_proto_type (event) == DS_PROTO_EVENT);
    sqlite3_stmt *stmt;
    switch (ds_proto_event (event)) {
        case DS_EVENT_STARTED:
            stmt = self->stmt [STMT_STARTED];
            break;
        case DS_EVENT_RESULT:
            stmt = self->stmt [STMT_COMPLETED];
            sqlite3_bind_text (stmt, 5, ds_proto_result (event), -1,
                               SQLITE_STATIC);
            break;
        case DS_EVENT_FAILED:
            stmt = self->stmt [STMT_FAILED];
            sqlite3_bind_text (stmt, 5, ds_proto_error_code (event), -1,
                               SQLITE_STATIC);
            sqlite3_bind_text (stmt, 6, ds_proto_error_text (event), -1,
                               SQLITE_STATIC);
            break;
        case DS_EVENT_CANCELLED:
            stmt = self->stmt [STMT_CANCEL];
            break;
        case DS_EVENT_HEARTBEAT:
            stmt = self->stmt [STMT_HEARTBEAT];
            break;
        default:
            return 0;
    }
    //  The sink's clock, not the worker's, orders what it stores
    sqlite3_bind_text (stmt, 1, ds_proto_task_id (event), -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, ds_util_now_ms ());
    if (stmt != self->stmt [STMT_CANCEL]) {
        sqlite3_bind_text (stmt, 3, ds_proto_worker (event), -1, SQLITE_STATIC);
        sqlite3_bind_int (stmt, 4, ds_proto_attempt (event));
    }
    if (s_exec (self, stmt))
        return -1;
    return sqlite3_changes (self->db) > 0 ? 1 : 0;
}


//  --------------------------------------------------------------------------
//  Cancel a task

int
ds_store_cancel (ds_store_t *self, const char *task_id)
{
    sqlite3_stmt *stmt = self->stmt [STMT_CANCEL];
    sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, ds_util_now_ms ());
    if (s_exec (self, stmt))
        return -1;
    if (sqlite3_changes (self->db) > 0)
        return 1;
    char *status = ds_store_task_state (self, task_id, NULL, NULL);
    int rc = status ? 0 : -1;
    zstr_free (&status);
    return rc;
}


//  --------------------------------------------------------------------------
//  The task stored under an idempotency key

char *
ds_store_task_by_key (ds_store_t *self, const char *idempotency_key)
{
    sqlite3_stmt *stmt = self->stmt [STMT_BY_KEY];
    sqlite3_bind_text (stmt, 1, idempotency_key, -1, SQLITE_STATIC);
    char *task_id = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        task_id = strdup ((const char *) sqlite3_column_text (stmt, 0));
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return task_id;
}


//  --------------------------------------------------------------------------
//  A task's status, error code and attempts

char *
ds_store_task_state (ds_store_t *self,
                     const char *task_id,
                     char **error_code,
                     int *attempts)
{
    sqlite3_stmt *stmt = self->stmt [STMT_STATE];
    sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
    char *status = NULL;
    if (sqlite3_step (stmt) == SQLITE_ROW) {
        status = strdup ((const char *) sqlite3_column_text (stmt, 0));
        if (error_code) {
            const char *code = (const char *) sqlite3_column_text (stmt, 1);
            *error_code = strdup (code ? code : "");
        }
        if (attempts)
            *attempts = sqlite3_column_int (stmt, 2);
    }
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return status;
}


//  --------------------------------------------------------------------------
//  Tasks in processing, as QUEUE messages with attempts and worker

zlistx_t *
ds_store_processing (ds_store_t *self)
{
    zlistx_t *processing = zlistx_new ();
    assert (processing);
    zlistx_set_destructor (processing, s_proto_destroy);
    sqlite3_stmt *stmt = self->stmt [STMT_PROCESSING];
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        int priority = sqlite3_column_int (stmt, 2);
        if (priority < 0 || priority > DS_PROTO_MAX_PRIORITY)
            continue;
        ds_proto_t *task = ds_proto_new (DS_PROTO_QUEUE);
        ds_proto_set_task_id (task,
                              (const char *) sqlite3_column_text (stmt, 0));
        ds_proto_set_task_type (task,
                                (const char *) sqlite3_column_text (stmt, 1));
        ds_proto_set_priority (task, priority);
        ds_proto_set_attempt (task, sqlite3_column_int (stmt, 3));
        const char *worker = (const char *) sqlite3_column_text (stmt, 4);
        ds_proto_set_worker (task, worker ? worker : "");
        zlistx_add_end (processing, task);
    }
    sqlite3_reset (stmt);
    return processing;
}


//  --------------------------------------------------------------------------
//  Record a dispatch attempt

int
ds_store_set_attempts (ds_store_t *self, const char *task_id, int attempts)
{
    sqlite3_stmt *stmt = self->stmt [STMT_SET_ATTEMPTS];
    sqlite3_bind_text (stmt, 1, task_id, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 2, attempts);
    return s_exec (self, stmt);
}


//  --------------------------------------------------------------------------
//  Delete ended tasks older than a time, with their images, at most
//  max_tasks of them: one transaction, its write lock held briefly

int64_t
ds_store_expire (ds_store_t *self, int64_t finished_before_ms, int max_tasks)
{
    sqlite3_stmt *stmt = self->stmt [STMT_EXPIRE];
    sqlite3_bind_int64 (stmt, 1, finished_before_ms);
    sqlite3_bind_int (stmt, 2, max_tasks);
    if (s_exec (self, stmt))
        return -1;
    return sqlite3_changes (self->db);
}


//  --------------------------------------------------------------------------
//  Count tasks

int64_t
ds_store_count (ds_store_t *self, const char *status)
{
    sqlite3_stmt *stmt =
        self->stmt [status ? STMT_COUNT_STATUS : STMT_COUNT_ALL];
    if (status)
        sqlite3_bind_text (stmt, 1, status, -1, SQLITE_STATIC);
    int64_t count = -1;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        count = sqlite3_column_int64 (stmt, 0);
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return count;
}


//  --------------------------------------------------------------------------
//  Self test

void
ds_store_test (bool verbose)
{
    printf (" * ds_store: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    char *path = zsys_sprintf ("/tmp/ds_store_test.%d.db", (int) getpid ());
    ds_store_t *store = ds_store_new (path);
    assert (store);
    //  A second connection on the same file, as the sink would have
    ds_store_t *sink = ds_store_new (path);
    assert (sink);
    //  While one connection's write batch is open the other's waits, in
    //  short pauses, and fails as busy once its timeout has passed; after
    //  the commit it goes through
    assert (ds_store_begin (store) == 0);
    ds_store_set_busy_timeout (sink, 50);
    int64_t wait_start = zclock_mono ();
    assert (ds_store_begin (sink) == -1);
    assert (zclock_mono () - wait_start >= 50);
    assert (ds_store_busy_waits (sink) >= 5);
    assert (ds_store_busy_waits (store) == 0);
    assert (ds_store_commit (store) == 0);
    assert (ds_store_begin (sink) == 0);
    assert (ds_store_commit (sink) == 0);
    ds_store_set_busy_timeout (sink, STORE_BUSY_TIMEOUT_MS);

    zchunk_t *images [2];
    images [0] = zchunk_new ("page-one", 8);
    images [1] = zchunk_new ("page-two", 8);
    const char *task_id = "1b4e28ba-2fa1-11d2-883f-0016d3cca427";
    assert (ds_store_insert_task (store, task_id, "document", 5, images, 2,
                                  NULL, "{\"documents\":[]}")
            == 0);
    //  Duplicate ids are refused and leave nothing half-written
    assert (
        ds_store_insert_task (store, task_id, "form", 1, images, 1, NULL, NULL)
        == -1);
    assert (ds_store_count (store, NULL) == 1);
    assert (
        ds_store_insert_task (store, "second", "form", 9, images, 1, NULL, NULL)
        == 0);
    zchunk_destroy (&images [0]);
    zchunk_destroy (&images [1]);

    zlistx_t *pending = ds_store_pending (store);
    assert (zlistx_size (pending) == 2);
    ds_proto_t *queued = (ds_proto_t *) zlistx_first (pending);
    assert (streq (ds_proto_task_id (queued), task_id));
    zlistx_destroy (&pending);

    ds_proto_t *task = ds_store_load_task (store, task_id);
    assert (task);
    assert (ds_proto_images (task) == 2);
    assert (memcmp (zchunk_data (ds_proto_image (task, 1)), "page-two", 8)
            == 0);
    assert (streq (ds_proto_file_lib (task), "{\"documents\":[]}"));
    assert (streq (ds_proto_form (task), ""));
    ds_proto_destroy (&task);
    assert (ds_store_load_task (store, "nope") == NULL);

    json_t *status = ds_store_task_status (store, task_id);
    assert (status);
    assert (streq (json_string_value (json_object_get (status, "status")),
                   "pending"));
    assert (json_is_null (json_object_get (status, "started_at")));
    json_decref (status);
    assert (ds_store_task_status (store, "nope") == NULL);

    //  Events: started, result, then a late duplicate that is dropped
    ds_proto_t *event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (event, task_id);
    ds_proto_set_worker (event, "w1");
    ds_proto_set_attempt (event, 1);
    ds_proto_set_event (event, DS_EVENT_STARTED);
    assert (ds_store_begin (sink) == 0);
    assert (ds_store_apply_event (sink, event) == 1);
    ds_proto_set_event (event, DS_EVENT_RESULT);
    ds_proto_set_result (event, "{\"title\":\"Invoice\"}");
    assert (ds_store_apply_event (sink, event) == 1);
    ds_proto_set_event (event, DS_EVENT_FAILED);
    ds_proto_set_error (event, "LATE", "late duplicate");
    assert (ds_store_apply_event (sink, event) == 0);
    ds_proto_set_task_id (event, "unknown");
    assert (ds_store_apply_event (sink, event) == 0);
    assert (ds_store_commit (sink) == 0);
    ds_proto_destroy (&event);

    status = ds_store_task_status (store, task_id);
    assert (streq (json_string_value (json_object_get (status, "status")),
                   "completed"));
    json_t *result = json_object_get (status, "result");
    assert (streq (json_string_value (json_object_get (result, "title")),
                   "Invoice"));
    assert (json_integer_value (json_object_get (status, "attempts")) == 1);
    assert (!json_object_get (status, "error"));
    json_decref (status);
    //  A finished task is not loaded for dispatch again
    assert (ds_store_load_task (store, task_id) == NULL);
    assert (ds_store_count (store, "completed") == 1);
    assert (ds_store_count (store, "pending") == 1);

    //  Cancel: a pending task is cancelled once; an ended one is not
    assert (ds_store_cancel (store, "second") == 1);
    assert (ds_store_cancel (store, "second") == 0);
    assert (ds_store_cancel (store, task_id) == 0);
    assert (ds_store_cancel (store, "nope") == -1);
    char *code = NULL;
    int attempts = 0;
    char *state = ds_store_task_state (store, "second", &code, &attempts);
    assert (streq (state, "cancelled") && streq (code, "") && attempts == 0);
    zstr_free (&state);
    zstr_free (&code);
    assert (ds_store_load_task (store, "second") == NULL);

    //  Dispatch attempts and the processing list
    images [0] = zchunk_new ("p", 1);
    assert (ds_store_insert_task (store, "third", "document", 4, images, 1,
                                  NULL, NULL)
            == 0);
    zchunk_destroy (&images [0]);
    assert (ds_store_set_attempts (store, "third", 2) == 0);
    event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_task_id (event, "third");
    ds_proto_set_worker (event, "w2");
    ds_proto_set_attempt (event, 2);
    ds_proto_set_event (event, DS_EVENT_STARTED);
    assert (ds_store_apply_event (sink, event) == 1);
    ds_proto_destroy (&event);
    zlistx_t *processing = ds_store_processing (store);
    assert (zlistx_size (processing) == 1);
    ds_proto_t *held = (ds_proto_t *) zlistx_first (processing);
    assert (streq (ds_proto_task_id (held), "third"));
    assert (ds_proto_attempt (held) == 2);
    assert (streq (ds_proto_worker (held), "w2"));
    zlistx_destroy (&processing);

    //  Idempotency keys: a second task with the same key is refused
    images [0] = zchunk_new ("k", 1);
    assert (ds_store_insert_keyed (store, "keyed", "document", 5, images, 1,
                                   NULL, NULL, "client-7/req-1", NULL)
            == 0);
    assert (ds_store_insert_keyed (store, "keyed-2", "document", 5, images, 1,
                                   NULL, NULL, "client-7/req-1", NULL)
            == -1);
    zchunk_destroy (&images [0]);
    char *found = ds_store_task_by_key (store, "client-7/req-1");
    assert (found && streq (found, "keyed"));
    zstr_free (&found);
    assert (ds_store_task_by_key (store, "client-7/req-2") == NULL);
    assert (ds_store_cancel (store, "keyed") == 1);

    //  A batch of inserts: a refused one leaves the others; a rollback
    //  leaves none
    images [0] = zchunk_new ("b", 1);
    assert (ds_store_begin (store) == 0);
    assert (ds_store_insert_keyed (store, "batch-1", "document", 5, images, 1,
                                   NULL, NULL, "batch/1", NULL)
            == 0);
    assert (ds_store_insert_keyed (store, "batch-2", "document", 5, images, 1,
                                   NULL, NULL, "batch/1", NULL)
            == -1);
    //  A hash made before the batch began is stored as given; without
    //  one the store makes the same
    char given [DS_STORE_HASH_SIZE], made [DS_STORE_HASH_SIZE];
    zchunk_t *other = zchunk_new ("other", 5);
    ds_store_content_hash (&other, 1, NULL, NULL, given);
    zchunk_destroy (&other);
    assert (strlen (given) == DS_STORE_HASH_SIZE - 1);
    assert (ds_store_insert_keyed (store, "batch-3", "document", 5, images, 1,
                                   NULL, NULL, NULL, given)
            == 0);
    assert (ds_store_commit (store) == 0);
    ds_store_content_hash (images, 1, NULL, NULL, made);
    assert (!streq (made, given));
    sqlite3_stmt *hashes;
    assert (sqlite3_prepare_v2 (
                store->db,
                "SELECT id, content_hash FROM tasks WHERE id LIKE 'batch-%'"
                " ORDER BY id",
                -1, &hashes, NULL)
            == SQLITE_OK);
    assert (sqlite3_step (hashes) == SQLITE_ROW);
    assert (streq ((const char *) sqlite3_column_text (hashes, 1), made));
    assert (sqlite3_step (hashes) == SQLITE_ROW);
    assert (streq ((const char *) sqlite3_column_text (hashes, 1), given));
    sqlite3_finalize (hashes);
    assert (ds_store_cancel (store, "batch-1") == 1);
    assert (ds_store_cancel (store, "batch-2") == -1);
    assert (ds_store_cancel (store, "batch-3") == 1);
    assert (ds_store_begin (store) == 0);
    assert (ds_store_insert_task (store, "batch-4", "document", 5, images, 1,
                                  NULL, NULL)
            == 0);
    ds_store_rollback (store);
    assert (ds_store_cancel (store, "batch-4") == -1);
    zchunk_destroy (&images [0]);

    //  Expiry removes ended tasks only, images with them, at most so many
    //  at a time
    assert (ds_store_expire (store, ds_util_now_ms () + 1000, 3) == 3);
    assert (ds_store_expire (store, ds_util_now_ms () + 1000, 3) == 2);
    assert (ds_store_expire (store, ds_util_now_ms () + 1000, 3) == 0);
    assert (ds_store_count (store, NULL) == 1);

    ds_store_destroy (&sink);
    ds_store_destroy (&store);
    //  A database with a newer schema is refused
    sqlite3 *db;
    assert (sqlite3_open (path, &db) == SQLITE_OK);
    assert (sqlite3_exec (db, "PRAGMA user_version = 99", NULL, NULL, NULL)
            == SQLITE_OK);
    sqlite3_close (db);
    assert (ds_store_new (path) == NULL);

    ds_store_remove (path);
    assert (!zsys_file_exists (path));
    char *wal = zsys_sprintf ("%s-wal", path);
    assert (!zsys_file_exists (wal));
    zstr_free (&wal);
    zstr_free (&path);
    //  @end
    printf ("OK\n");
}
