/*  =========================================================================
    docusnap-bench - throughput and latency of a docusnap pipeline, beside
    the raw limits of its parts measured in the same run

    docusnap-bench [OPTIONS]                 drive a pipeline (see --help)
    docusnap-bench --role limits [OPTIONS]   only the parts' raw limits

    Results are labelled, with units; --json prints one object for
    machines. Figures on a shared machine are noisy: compare ratios from
    one run, not figures from different runs.
    =========================================================================
*/

#include "docusnap.h"
#include "../workers/ds_worker_classes.h"
#include <curl/curl.h>
#include <microhttpd.h>
#include <fcntl.h>
#include <sys/resource.h>

#define BENCH_HTTP_INFLIGHT 256  //  open loop: HTTP requests at once
#define BENCH_TIMEOUT_MS 600000  //  the whole run, at most
#define BENCH_LIMIT_MS 3000      //  time given to each raw limit
#define BENCH_POLL_MS 10         //  longest wait for answers or states
#define BENCH_OCR_LIMIT_MS 6000  //  to tesseract's (a page takes ~0.2 s)
#define BENCH_SQLITE_BATCH 512   //  as the sink's default batch-size
#define BENCH_STALL_MS 1000      //  no task ended for this long: recheck
#define BENCH_SERVICES 7         //  services reported on, at most

//  Options

typedef struct {
    const char *role;      //  "pipeline" or "limits"
    const char *url;       //  gateway URL when not spawning
    const char *publish;   //  sink publish endpoint when not spawning
    bool spawn;            //  start our own pipeline
    const char *via;       //  "http" or "zmq"
    const char *front;     //  gateway front door when not spawning
    int tasks;             //  measured tasks
    int warmup;            //  tasks before measuring
    int concurrency;       //  closed loop: tasks outstanding
    int connections;       //  HTTP: keep-alive connections, requests in flight
    double rate;           //  open loop: tasks per second, 0 = closed
    const char *workload;  //  echo, ocr, llm-mock:MS, ocr+llm-mock:MS
    int workers;           //  spawned workers
    int ocr_threads;       //  per spawned worker, 0 = cores
    int llm_max_inflight;  //  per spawned worker
    bool json;             //  print JSON
    bool quiet;            //  no progress bar
    bool keep;             //  keep the spawned pipeline's directory
    const char *image;     //  the page of the ocr workloads, or NULL
} options_t;

//  One task's timing

typedef struct {
    int64_t submitted;  //  mono us at submit
    int64_t ended;      //  mono us at its terminal STATE
    bool error;         //  ended in error
} timing_t;

//  The run

typedef struct {
    options_t *options;          //  what to do
    char *body;                  //  request body of one task
    char *path;                  //  /api/process_<type>
    ds_proto_t *submit;          //  the same task as a SUBMIT (--via zmq)
    zsock_t *dealer;             //  DEALER to the front door (--via zmq)
    int64_t *sent_at;            //  mono us each SUBMIT was sent, by request
    int pages;                   //  OCR pages per task
    zchunk_t *page;              //  the page (ocr workloads), read once
    char *page_path;             //  its file
    CURLM *multi;                //  HTTP client
    struct curl_slist *headers;  //  of every POST
    zsock_t *states;             //  SUB to the sink
    zhash_t *ids;                //  task id -> index into timings
    zhash_t *early;           //  task id -> end (mono us), ended before its 202
    timing_t *timings;        //  per task, warm-up included
    int total;                //  tasks to submit
    int submitted;            //  submitted so far
    int accepted;             //  202s
    int ended;                //  terminal states seen
    int refused;              //  submissions not accepted
    int polled;               //  ends seen only by asking the status
    int inflight_http;        //  HTTP requests in flight
    int64_t start_us;         //  first measured submit
    int64_t open_start;       //  when the drive began (open loop)
    int64_t measure_start;    //  when the warm-up had ended
    ds_launcher_t *launcher;  //  our pipeline, or NULL
    long rss_early [BENCH_SERVICES];        //  KiB when a tenth of tasks ended
    double cpu_start [BENCH_SERVICES + 1];  //  CPU s when measuring began,
                                            //  the last entry ours
} run_t;

//  The services whose use the report shows
static const char *s_services [BENCH_SERVICES + 1] = {
    "gateway",  "ventilator", "sink",     "worker-1",
    "worker-2", "worker-3",   "worker-4", NULL};


static void s_usage_of (pid_t pid, double *cpu, long *peak_kib);

//  CPU seconds so far of each service and, last, of this process (its
//  client and ZeroMQ threads)

static void
s_cpu_now (run_t *run, double *cpu)
{
    for (int index = 0; s_services [index]; index++) {
        long peak;
        pid_t pid = run->launcher
                        ? ds_launcher_pid (run->launcher, s_services [index])
                        : 0;
        cpu [index] = 0;
        if (pid)
            s_usage_of (pid, &cpu [index], &peak);
    }
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    cpu [BENCH_SERVICES] = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6
                           + usage.ru_stime.tv_sec
                           + usage.ru_stime.tv_usec / 1e6;
}

//  CPU microseconds per measured task of a service (index BENCH_SERVICES:
//  this process) from the end of the warm-up to the last task's end

static double
s_cpu_per_task (run_t *run, const double *cpu_end, int index, int count)
{
    return count > 0 ? (cpu_end [index] - run->cpu_start [index]) * 1e6 / count
                     : 0.0;
}

static int64_t
s_now_us (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}


//  --------------------------------------------------------------------------
//  Usage

static void
s_usage (void)
{
    printf (
        "Usage: docusnap-bench [OPTION]...\n"
        "Drives a docusnap pipeline and reports tasks/s, latency and the raw\n"
        "limit of the part that bounds the workload, measured in the same "
        "run.\n\n"
        "  --spawn                 start a pipeline of our own (temporary "
        "data)\n"
        "  --url URL               drive a running gateway instead\n"
        "  --publish ENDPOINT      its sink's publish endpoint (for latency)\n"
        "  --via http|zmq          the way in: HTTP, or the ZMQ front door "
        "[http]\n"
        "  --front ENDPOINT        the running gateway's front door (--via "
        "zmq)\n"
        "  --tasks N               measured tasks [200]\n"
        "  --warmup N              tasks run to their end before measuring "
        "[20]\n"
        "  --concurrency C         closed loop: C tasks outstanding [64]\n"
        "  --connections N         HTTP keep-alive connections, one request "
        "each\n"
        "                          at a time; also the raw limit's [min(C, "
        "64)]\n"
        "  --rate R                open loop: R tasks/s instead\n"
        "  --workload W            echo | ocr | llm-mock:MS | ocr+llm-mock:MS "
        "[echo]\n"
        "  --workers N             workers to spawn [1]\n"
        "  --ocr-threads N         OCR threads per spawned worker [cores]\n"
        "  --llm-max-inflight N    LLM calls per spawned worker [32]\n"
        "  --image FILE            the page of the ocr workloads and of "
        "tesseract's\n"
        "                          limit [the shipped invoice.png]\n"
        "  --role limits           only measure the parts' raw limits\n"
        "  --json                  one JSON object on stdout\n"
        "  --quiet                 no progress bar\n"
        "  --keep                  keep the spawned pipeline's directory "
        "(logs, database)\n\n"
        "DOCUSNAP_HTTP_API_KEY, if set, is sent as Authorization: Bearer "
        "(its first key)\non every HTTP request; a spawned gateway requires "
        "it.\n");
}


//  --------------------------------------------------------------------------
//  Parse options; returns 0, 1 for --help, -1 on error

static int
s_options (options_t *options, int argc, char **argv)
{
    *options = (options_t){0};
    options->role = "pipeline";
    options->via = "http";
    options->tasks = 200;
    options->warmup = 20;
    options->concurrency = 64;
    options->workload = "echo";
    options->workers = 1;
    options->llm_max_inflight = 32;
    for (int arg_nbr = 1; arg_nbr < argc; arg_nbr++) {
        const char *arg = argv [arg_nbr];
        const char *value = arg_nbr + 1 < argc ? argv [arg_nbr + 1] : NULL;
        bool takes = true;
        if (streq (arg, "--help") || streq (arg, "-h")) {
            s_usage ();
            return 1;
        }
        else if (streq (arg, "--spawn"))
            options->spawn = true, takes = false;
        else if (streq (arg, "--json"))
            options->json = true, takes = false;
        else if (streq (arg, "--quiet"))
            options->quiet = true, takes = false;
        else if (streq (arg, "--keep"))
            options->keep = true, takes = false;
        else if (!value) {
            fprintf (stderr, "docusnap-bench: %s needs a value (see --help)\n",
                     arg);
            return -1;
        }
        else if (streq (arg, "--role"))
            options->role = value;
        else if (streq (arg, "--url"))
            options->url = value;
        else if (streq (arg, "--publish"))
            options->publish = value;
        else if (streq (arg, "--via"))
            options->via = value;
        else if (streq (arg, "--front"))
            options->front = value;
        else if (streq (arg, "--tasks"))
            options->tasks = atoi (value);
        else if (streq (arg, "--warmup"))
            options->warmup = atoi (value);
        else if (streq (arg, "--concurrency"))
            options->concurrency = atoi (value);
        else if (streq (arg, "--connections"))
            options->connections = atoi (value);
        else if (streq (arg, "--rate"))
            options->rate = atof (value);
        else if (streq (arg, "--workload"))
            options->workload = value;
        else if (streq (arg, "--workers"))
            options->workers = atoi (value);
        else if (streq (arg, "--ocr-threads"))
            options->ocr_threads = atoi (value);
        else if (streq (arg, "--llm-max-inflight"))
            options->llm_max_inflight = atoi (value);
        else if (streq (arg, "--image"))
            options->image = value;
        else {
            fprintf (stderr, "docusnap-bench: unknown option %s (see --help)\n",
                     arg);
            return -1;
        }
        if (takes)
            arg_nbr++;
    }
    if (!streq (options->via, "http") && !streq (options->via, "zmq")) {
        fprintf (stderr, "docusnap-bench: --via is http or zmq\n");
        return -1;
    }
    if (streq (options->via, "zmq") && !options->spawn && !options->front) {
        fprintf (stderr, "docusnap-bench: --via zmq needs --front\n");
        return -1;
    }
    if (!options->connections)
        options->connections =
            options->concurrency < 64 ? options->concurrency : 64;
    if (options->tasks < 1 || options->concurrency < 1 || options->workers < 1
        || options->warmup < 0 || options->rate < 0
        || options->connections < 1) {
        fprintf (stderr, "docusnap-bench: counts must be positive\n");
        return -1;
    }
    if (streq (options->role, "pipeline") && !options->spawn
        && (!options->url || !options->publish)) {
        fprintf (stderr, "docusnap-bench: give --spawn, or --url and "
                         "--publish\n");
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  The page of the ocr workloads: --image, or the shipped invoice (rendered
//  by tests/render-fixtures.sh). The path is set if wanted (caller frees).

static zchunk_t *
s_page (const options_t *options, char **path_p)
{
    const char *dir = getenv ("DS_FIXTURES");
    char *path = options->image ? strdup (options->image)
                                : zsys_sprintf ("%s/invoice.png",
                                                dir ? dir : DS_FIXTURES_DIR);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk)
        fprintf (stderr, "docusnap-bench: cannot read %s%s\n", path,
                 options->image ? ""
                                : " (render the pages with "
                                  "tests/render-fixtures.sh)");
    if (path_p)
        *path_p = path;
    else
        zstr_free (&path);
    return chunk;
}


//  --------------------------------------------------------------------------
//  The LLM latency of a workload ("llm-mock:2000" -> 2000), -1 if none

static int
s_llm_latency (const char *workload)
{
    const char *colon = strstr (workload, "llm-mock:");
    return colon ? atoi (colon + 9) : -1;
}


//  --------------------------------------------------------------------------
//  Build the request of the workload; returns 0 or -1

static int
s_workload (run_t *run)
{
    const char *workload = run->options->workload;
    bool ocr = strncmp (workload, "ocr", 3) == 0;
    int latency = s_llm_latency (workload);
    if (!streq (workload, "echo") && !streq (workload, "ocr") && latency < 0) {
        fprintf (stderr, "docusnap-bench: unknown workload %s\n", workload);
        return -1;
    }
    if (ocr) {
        zchunk_t *page = run->page = s_page (run->options, &run->page_path);
        if (!page)
            return -1;
        char *encoded =
            ds_util_base64_encode (zchunk_data (page), zchunk_size (page));
        run->body = zsys_sprintf ("{\"images\": [\"%s\"]}", encoded);
        zstr_free (&encoded);
        run->submit = ds_proto_new (DS_PROTO_SUBMIT);
        ds_proto_set_task_type (run->submit, "document");
        ds_proto_add_image (run->submit, zchunk_data (page),
                            zchunk_size (page));
        run->path = strdup ("/api/process_document");
        run->pages = 1;
    }
    else if (latency >= 0) {
        run->body = strdup (
            "{\"form\": {\"fields\": [\"Full Name\", \"Passport Number\"]}, "
            "\"file_lib\": {\"documents\": [{\"id\": \"passport\", \"kv\": "
            "{\"Full Name\": \"Maria Lopez\", \"Passport Number\": "
            "\"X1234567\"}}]}}");
        run->path = strdup ("/api/process_form_filling");
        run->submit = ds_proto_new (DS_PROTO_SUBMIT);
        ds_proto_set_task_type (run->submit, "form_filling");
        json_t *body = json_loads (run->body, 0, NULL);
        char *form = json_dumps (json_object_get (body, "form"), JSON_COMPACT);
        char *file_lib =
            json_dumps (json_object_get (body, "file_lib"), JSON_COMPACT);
        ds_proto_set_form (run->submit, form);
        ds_proto_set_file_lib (run->submit, file_lib);
        free (form);
        free (file_lib);
        json_decref (body);
    }
    else {
        run->body = strdup ("{}");
        run->path = strdup ("/api/process_echo");
        run->submit = ds_proto_new (DS_PROTO_SUBMIT);
        ds_proto_set_task_type (run->submit, "echo");
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  A task was accepted: time it from its submission, and end it now if its
//  end arrived before its answer

static void
s_accepted (run_t *run, const char *task_id, int64_t submitted)
{
    int index = run->accepted++;
    run->timings [index].submitted = submitted;
    zhash_insert (run->ids, task_id, (void *) (intptr_t) (index + 1));
    intptr_t early = (intptr_t) zhash_lookup (run->early, task_id);
    if (early) {
        run->timings [index].ended = early / 2;
        run->timings [index].error = early % 2;
        run->ended++;
        zhash_delete (run->early, task_id);
    }
}


//  --------------------------------------------------------------------------
//  Keep one connection per request in flight open between requests: the
//  multi handle's connection cache is sized from the easy handles added,
//  and each request here is an easy handle of its own, removed when done

static void
s_keep_alive (CURLM *multi, int concurrency)
{
    long connections = concurrency > 0 ? concurrency : 1;
    curl_multi_setopt (multi, CURLMOPT_MAX_HOST_CONNECTIONS, connections);
    curl_multi_setopt (multi, CURLMOPT_MAXCONNECTS, connections);
}


//  --------------------------------------------------------------------------
//  HTTP: one submission

typedef struct {
    zchunk_t *response;  //  the body
    int64_t submitted;   //  mono us
} request_t;

static size_t
s_write (char *data, size_t size, size_t count, void *arg)
{
    zchunk_extend (((request_t *) arg)->response, data, size * count);
    return size * count;
}

//  The request headers of every POST: JSON, and no "Expect: 100-continue"
//  round trip; caller frees with curl_slist_free_all

static struct curl_slist *
s_json_headers (void)
{
    struct curl_slist *headers =
        curl_slist_append (NULL, "Content-Type: application/json");
    headers = curl_slist_append (headers, "Expect:");
    //  A gateway that requires an API key (http-api-key): its first key
    const char *keys = getenv ("DOCUSNAP_HTTP_API_KEY");
    if (keys && *keys) {
        keys += strspn (keys, " ");
        char *line = zsys_sprintf ("Authorization: Bearer %.*s",
                                   (int) strcspn (keys, ", "), keys);
        headers = curl_slist_append (headers, line);
        zstr_free (&line);
    }
    return headers;
}

//  Add one POST to the multi handle: the same client for the pipeline and
//  for the HTTP raw limit. data is handed to write and kept as private.

static void
s_post (CURLM *multi,
        const char *url,
        const char *body,
        struct curl_slist *headers,
        curl_write_callback write,
        void *data)
{
    CURL *easy = curl_easy_init ();
    curl_easy_setopt (easy, CURLOPT_URL, url);
    curl_easy_setopt (easy, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, write);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, data);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, data);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_multi_add_handle (multi, easy);
}

static void
s_submit (run_t *run, const char *base_url)
{
    request_t *request = (request_t *) zmalloc (sizeof (request_t));
    request->response = zchunk_new (NULL, 256);
    request->submitted = s_now_us ();
    char *url = zsys_sprintf ("%s%s", base_url, run->path);
    s_post (run->multi, url, run->body, run->headers, s_write, request);
    zstr_free (&url);
    run->submitted++;
    run->inflight_http++;
    if (run->submitted == run->options->warmup + 1)
        run->start_us = request->submitted;
}


//  --------------------------------------------------------------------------
//  HTTP: collect answers

static void
s_collect (run_t *run)
{
    CURLMsg *message;
    int left;
    while ((message = curl_multi_info_read (run->multi, &left))) {
        if (message->msg != CURLMSG_DONE)
            continue;
        CURL *easy = message->easy_handle;
        request_t *request = NULL;
        curl_easy_getinfo (easy, CURLINFO_PRIVATE, (char **) &request);
        long status = 0;
        curl_easy_getinfo (easy, CURLINFO_RESPONSE_CODE, &status);
        json_t *json =
            status == 202
                ? json_loadb ((const char *) zchunk_data (request->response),
                              zchunk_size (request->response), 0, NULL)
                : NULL;
        const char *task_id =
            json_string_value (json_object_get (json, "task_id"));
        if (task_id)
            s_accepted (run, task_id, request->submitted);
        else
            run->refused++;
        json_decref (json);
        curl_multi_remove_handle (run->multi, easy);
        curl_easy_cleanup (easy);
        zchunk_destroy (&request->response);
        free (request);
        run->inflight_http--;
    }
}


//  --------------------------------------------------------------------------
//  STATE stream: terminal states end tasks

static void
s_states (run_t *run)
{
    zmsg_t *msg;
    ds_proto_t *state = ds_proto_new (0);
    while ((msg = zmsg_recv (run->states))) {
        if (ds_proto_decode_msg (state, msg, DS_PROTO_STATE) == 0) {
            const char *status = ds_proto_status (state);
            bool error = streq (status, "error") || streq (status, "cancelled");
            if (error || streq (status, "completed")) {
                intptr_t index = (intptr_t) zhash_lookup (
                    run->ids, ds_proto_task_id (state));
                if (!index) {
                    //  Its answer is still on the way: the task can end
                    //  before the 202 that names it is read
                    int64_t ended = s_now_us () * 2 + (error ? 1 : 0);
                    zhash_insert (run->early, ds_proto_task_id (state),
                                  (void *) (intptr_t) ended);
                }
                else if (run->timings [index - 1].ended == 0) {
                    run->timings [index - 1].ended = s_now_us ();
                    run->timings [index - 1].error = error;
                    run->ended++;
                }
            }
        }
        zmsg_destroy (&msg);
    }
    ds_proto_destroy (&state);
}


//  --------------------------------------------------------------------------
//  Progress bar on a terminal

static void
s_progress (run_t *run, bool final)
{
    if (run->options->quiet || run->options->json || !isatty (STDERR_FILENO))
        return;
    int width = 40;
    int done = run->total ? run->ended * width / run->total : 0;
    double seconds = (s_now_us () - run->start_us) / 1e6;
    fprintf (stderr, "\r[%.*s%*s] %d/%d tasks %.1f/s ", done,
             "========================================", width - done, "",
             run->ended, run->total,
             seconds > 0 && run->ended > run->options->warmup
                 ? (run->ended - run->options->warmup) / seconds
                 : 0.0);
    if (final)
        fprintf (stderr, "\n");
}


//  --------------------------------------------------------------------------
//  ZMQ front door: one SUBMIT, request id = its submission number

static void
s_submit_zmq (run_t *run)
{
    char request_id [16];
    snprintf (request_id, sizeof (request_id), "%d", run->submitted);
    ds_proto_set_request_id (run->submit, request_id);
    run->sent_at [run->submitted] = s_now_us ();
    if (run->submitted == run->options->warmup)
        run->start_us = run->sent_at [run->submitted];
    ds_proto_send (run->submit, run->dealer);
    run->submitted++;
    run->inflight_http++;
}


//  --------------------------------------------------------------------------
//  ZMQ front door: collect REPLYs

static void
s_collect_zmq (run_t *run)
{
    ds_proto_t *reply = ds_proto_new (0);
    zmsg_t *msg;
    while ((msg = zmsg_recv (run->dealer))) {  //  rcvtimeo is 0
        zframe_t *frame = zmsg_first (msg);
        if (ds_proto_decode (reply, zframe_data (frame), zframe_size (frame))
                == 0
            && ds_proto_type (reply) == DS_PROTO_REPLY) {
            int request = atoi (ds_proto_request_id (reply));
            json_t *body = ds_proto_status_code (reply) == 202
                               ? json_loads (ds_proto_result (reply), 0, NULL)
                               : NULL;
            const char *task_id =
                json_string_value (json_object_get (body, "task_id"));
            if (task_id && request >= 0 && request < run->total)
                s_accepted (run, task_id, run->sent_at [request]);
            else
                run->refused++;
            json_decref (body);
            run->inflight_http--;
        }
        zmsg_destroy (&msg);
    }
    ds_proto_destroy (&reply);
}


//  --------------------------------------------------------------------------
//  A subscriber misses what is published before its subscription reaches
//  the publisher: when nothing has ended for a while, ask the gateway for
//  the status of the tasks still open (their end time is then when we
//  learn of it, a little late, never early). The STATE stream is read
//  between the requests: tasks often start to end during the sweep (an
//  LLM workload ends nothing for its first call's latency), and those
//  whose STATE has come are not counted as polled

static size_t
s_keep (char *data, size_t size, size_t count, void *arg)
{
    zchunk_extend ((zchunk_t *) arg, data, size * count);
    return size * count;
}

static void
s_recheck (run_t *run, const char *base_url)
{
    CURL *easy = curl_easy_init ();
    void *item = zhash_first (run->ids);
    while (item) {
        const char *task_id = (const char *) zhash_cursor (run->ids);
        timing_t *timing = &run->timings [(intptr_t) item - 1];
        //  A STATE that came while the tasks before were asked about
        //  ends its task as usual, instead of the status it implies
        if (timing->ended == 0)
            s_states (run);
        if (timing->ended == 0) {
            char *url =
                zsys_sprintf ("%s/api/task_status/%s", base_url, task_id);
            zchunk_t *response = zchunk_new (NULL, 1024);
            curl_easy_setopt (easy, CURLOPT_URL, url);
            curl_easy_setopt (easy, CURLOPT_HTTPHEADER, run->headers);
            curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_keep);
            curl_easy_setopt (easy, CURLOPT_WRITEDATA, response);
            curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
            if (curl_easy_perform (easy) == CURLE_OK) {
                json_t *json =
                    json_loadb ((const char *) zchunk_data (response),
                                zchunk_size (response), 0, NULL);
                const char *status =
                    json_string_value (json_object_get (json, "status"));
                if (ds_util_is_terminal (status)) {
                    timing->ended = s_now_us ();
                    timing->error = !streq (status, "completed");
                    run->ended++;
                    run->polled++;
                }
                json_decref (json);
            }
            zchunk_destroy (&response);
            zstr_free (&url);
        }
        item = zhash_next (run->ids);
    }
    curl_easy_cleanup (easy);
}


static long s_rss_of (pid_t pid);

//  --------------------------------------------------------------------------
//  How long the driver may wait for an answer or a state: an open loop
//  must wake to submit on time

static int
s_poll_ms (run_t *run)
{
    return run->options->rate > 0 ? 1 : BENCH_POLL_MS;
}


//  --------------------------------------------------------------------------
//  Submit what the loop allows. Warm-up tasks run to their end before the
//  first measured one is sent, so that the measured window does not start
//  with the pipeline busy on warm-up work

static void
s_top_up (run_t *run, const char *base_url)
{
    const options_t *options = run->options;
    bool warm = run->ended + run->refused >= options->warmup;
    int cap = warm ? run->total : options->warmup;
    if (warm && !run->measure_start) {
        run->measure_start = s_now_us ();
        s_cpu_now (run, run->cpu_start);
    }
    if (options->rate > 0) {
        int64_t due = warm ? options->warmup
                                 + (int64_t) ((s_now_us () - run->measure_start)
                                              / 1e6 * options->rate)
                           : (int64_t) ((s_now_us () - run->open_start) / 1e6
                                        * options->rate);
        while (run->submitted < cap && run->submitted < due
               && run->inflight_http < BENCH_HTTP_INFLIGHT)
            if (run->dealer)
                s_submit_zmq (run);
            else
                s_submit (run, base_url);
    }
    else
        while (run->submitted < cap
               && run->submitted - run->ended - run->refused
                      < options->concurrency
               && (run->dealer || run->inflight_http < options->connections))
            if (run->dealer)
                s_submit_zmq (run);
            else
                s_submit (run, base_url);
}


//  --------------------------------------------------------------------------
//  Drive the load: returns 0 when every task ended, -1 on timeout

static int
s_drive (run_t *run, const char *base_url)
{
    int64_t deadline = zclock_mono () + BENCH_TIMEOUT_MS;
    int64_t next_progress = 0;
    run->open_start = s_now_us ();
    int64_t last_progress = zclock_mono ();
    int last_ended = 0;
    while (run->ended + run->refused < run->total) {
        if (zclock_mono () > deadline)
            return -1;
        if (run->ended != last_ended) {
            last_ended = run->ended;
            last_progress = zclock_mono ();
        }
        else if (zclock_mono () - last_progress > BENCH_STALL_MS) {
            s_recheck (run, base_url);
            last_progress = zclock_mono ();
        }
        s_top_up (run, base_url);
        if (run->dealer) {
            s_collect_zmq (run);
            s_states (run);
            s_top_up (run, base_url);
            zmq_pollitem_t items [] = {
                {zsock_resolve (run->dealer), 0, ZMQ_POLLIN, 0},
                {zsock_resolve (run->states), 0, ZMQ_POLLIN, 0}};
            zmq_poll (items, 2, s_poll_ms (run));
        }
        else {
            int running = 0;
            curl_multi_perform (run->multi, &running);
            s_collect (run);
            s_states (run);
            //  Freed slots are filled before waiting (a new request makes
            //  curl return at once); the wait ends on an HTTP socket or
            //  on the STATE socket (its ZMQ_FD, valid once s_states has
            //  drained it)
            s_top_up (run, base_url);
            struct curl_waitfd states = {zsock_fd (run->states),
                                         CURL_WAIT_POLLIN, 0};
            if (!(zsock_events (run->states) & ZMQ_POLLIN))
                curl_multi_poll (run->multi, &states, 1, s_poll_ms (run), NULL);
        }
        //  Memory once a tenth of the tasks ended, to compare with the end
        if (run->launcher && !run->rss_early [0]
            && run->ended >= run->total / 10)
            for (int index = 0; s_services [index]; index++)
                run->rss_early [index] = s_rss_of (
                    ds_launcher_pid (run->launcher, s_services [index]));
        if (zclock_mono () >= next_progress) {
            s_progress (run, false);
            next_progress = zclock_mono () + 200;
        }
    }
    s_progress (run, true);
    return 0;
}


//  --------------------------------------------------------------------------
//  Percentile of a sorted array

static int
s_compare (const void *left, const void *right)
{
    int64_t a = *(const int64_t *) left, b = *(const int64_t *) right;
    return a < b ? -1 : a > b;
}

static double
s_percentile (int64_t *sorted, int count, double share)
{
    if (count == 0)
        return 0;
    int index = (int) (share * (count - 1) + 0.5);
    return sorted [index] / 1000.0;
}


//  --------------------------------------------------------------------------
//  Raw limit: SQLite doing what the pipeline does per task, with the same
//  settings, as fast as it can: the gateway's insert (synchronous=FULL,
//  batches of BENCH_SQLITE_BATCH) and the sink's two updates (STARTED and
//  RESULT, synchronous=NORMAL, the same batches), each on its own
//  connection, as the services have

static double
s_limit_sqlite (const char *dir)
{
    char *path = zsys_sprintf ("%s/limit.db", dir);
    ds_store_t *gateway = ds_store_new (path);
    ds_store_t *sink = ds_store_new (path);
    if (!gateway || !sink) {
        ds_store_destroy (&gateway);
        ds_store_destroy (&sink);
        zstr_free (&path);
        return 0;
    }
    ds_store_set_durable (gateway, true);
    ds_proto_t *event = ds_proto_new (DS_PROTO_EVENT);
    ds_proto_set_worker (event, "bench");
    ds_proto_set_attempt (event, 1);
    ds_proto_set_result (event, "{\"echo\":true}");
    int64_t start = zclock_mono ();
    int tasks = 0;
    while (zclock_mono () - start < BENCH_LIMIT_MS) {
        char *ids [BENCH_SQLITE_BATCH];
        ds_store_begin (gateway);
        for (int batch_nbr = 0; batch_nbr < BENCH_SQLITE_BATCH; batch_nbr++) {
            ids [batch_nbr] = ds_util_uuid ();
            ds_store_insert_task (gateway, ids [batch_nbr], "echo", 5, NULL, 0,
                                  NULL, NULL);
        }
        ds_store_commit (gateway);
        for (int event_nbr = DS_EVENT_STARTED; event_nbr <= DS_EVENT_RESULT;
             event_nbr += DS_EVENT_RESULT - DS_EVENT_STARTED) {
            ds_store_begin (sink);
            for (int batch_nbr = 0; batch_nbr < BENCH_SQLITE_BATCH;
                 batch_nbr++) {
                ds_proto_set_task_id (event, ids [batch_nbr]);
                ds_proto_set_event (event, event_nbr);
                ds_store_apply_event (sink, event);
            }
            ds_store_commit (sink);
        }
        for (int batch_nbr = 0; batch_nbr < BENCH_SQLITE_BATCH; batch_nbr++)
            zstr_free (&ids [batch_nbr]);
        tasks += BENCH_SQLITE_BATCH;
    }
    double rate = tasks * 1000.0 / (zclock_mono () - start);
    ds_proto_destroy (&event);
    ds_store_destroy (&gateway);
    ds_store_destroy (&sink);
    //  Each measurement starts from an empty file, and none is left behind
    ds_store_remove (path);
    zstr_free (&path);
    return rate;
}


//  --------------------------------------------------------------------------
//  Raw limit: libmicrohttpd "hello world" requests/s in one thread, as the
//  gateway runs it, answering each POST with a fixed 202,
//  driven by this tool's own HTTP client (libcurl multi, keep-alive) at the
//  given concurrency: what HTTP alone costs on this machine

static enum MHD_Result
s_hello (void *cls,
         struct MHD_Connection *connection,
         const char *url,
         const char *method,
         const char *version,
         const char *upload_data,
         size_t *upload_data_size,
         void **req_cls)
{
    (void) cls;
    (void) url;
    (void) method;
    (void) version;
    (void) upload_data;
    static int marker;
    if (!*req_cls) {
        *req_cls = &marker;
        return MHD_YES;
    }
    if (*upload_data_size) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    static const char body [] =
        "{\"task_id\":\"01890a5d-ac96-774b-bcce-b302099a8057\","
        "\"status\":\"pending\"}";
    struct MHD_Response *response = MHD_create_response_from_buffer (
        sizeof (body) - 1, (void *) body, MHD_RESPMEM_PERSISTENT);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE,
                             "application/json");
    MHD_add_response_header (
        response, MHD_HTTP_HEADER_LOCATION,
        "/api/task_status/01890a5d-ac96-774b-bcce-b302099a8057");
    enum MHD_Result rc =
        MHD_queue_response (connection, MHD_HTTP_ACCEPTED, response);
    MHD_destroy_response (response);
    return rc;
}

static size_t
s_discard (char *data, size_t size, size_t count, void *arg)
{
    (void) data;
    (void) arg;
    return size * count;
}

static double
s_limit_http (int concurrency)
{
    struct MHD_Daemon *daemon = MHD_start_daemon (
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
        s_hello, NULL, MHD_OPTION_CONNECTION_LIMIT, 1024U, MHD_OPTION_END);
    if (!daemon)
        return 0;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info (daemon, MHD_DAEMON_INFO_BIND_PORT);
    char *url = zsys_sprintf ("http://127.0.0.1:%u/api/process_echo",
                              (unsigned int) info->port);
    CURLM *multi = curl_multi_init ();
    s_keep_alive (multi, concurrency);
    struct curl_slist *headers = s_json_headers ();
    int64_t start = zclock_mono ();
    int inflight = 0, done = 0;
    bool stopping = false;
    while (inflight > 0 || !stopping) {
        stopping = zclock_mono () - start >= BENCH_LIMIT_MS;
        while (!stopping && inflight < concurrency) {
            s_post (multi, url, "{}", headers, s_discard, NULL);
            inflight++;
        }
        int running = 0;
        curl_multi_perform (multi, &running);
        CURLMsg *message;
        int left;
        while ((message = curl_multi_info_read (multi, &left))) {
            if (message->msg != CURLMSG_DONE)
                continue;
            long status = 0;
            curl_easy_getinfo (message->easy_handle, CURLINFO_RESPONSE_CODE,
                               &status);
            if (status == 202)
                done++;
            CURL *easy = message->easy_handle;
            curl_multi_remove_handle (multi, easy);
            curl_easy_cleanup (easy);
            inflight--;
        }
        //  Fill the freed slots before waiting: with every request
        //  answered in one go, the wait would have nothing to wake it
        while (!stopping && inflight < concurrency) {
            s_post (multi, url, "{}", headers, s_discard, NULL);
            inflight++;
        }
        curl_multi_poll (multi, NULL, 0, BENCH_POLL_MS, NULL);
    }
    double rate = done * 1000.0 / (zclock_mono () - start);
    curl_slist_free_all (headers);
    curl_multi_cleanup (multi);
    MHD_stop_daemon (daemon);
    zstr_free (&url);
    return rate;
}


//  --------------------------------------------------------------------------
//  Raw limit: ZeroMQ PUSH/PULL messages/s over TCP loopback at a size

static double
s_limit_zmq (size_t size)
{
    zsock_t *pull = zsock_new (ZMQ_PULL);
    zsock_t *push = zsock_new (ZMQ_PUSH);
    int port = zsock_bind (pull, "tcp://127.0.0.1:*");
    zsock_connect (push, "tcp://127.0.0.1:%d", port);
    zsock_set_rcvtimeo (pull, 1000);
    char *data = (char *) zmalloc (size);
    int64_t start = zclock_mono ();
    int messages = 0;
    while (zclock_mono () - start < BENCH_LIMIT_MS / 3) {
        for (int burst = 0; burst < 1000; burst++) {
            zframe_t *frame = zframe_new (data, size);
            zframe_send (&frame, push, 0);
        }
        for (int burst = 0; burst < 1000; burst++) {
            zframe_t *frame = zframe_recv (pull);
            if (!frame)
                break;
            zframe_destroy (&frame);
            messages++;
        }
    }
    double rate = messages * 1000.0 / (zclock_mono () - start);
    free (data);
    zsock_destroy (&push);
    zsock_destroy (&pull);
    return rate;
}


//  --------------------------------------------------------------------------
//  Raw limit: tesseract pages/s through the C API, one engine per thread

static double
s_limit_ocr (zchunk_t *page, int threads)
{
    if (!page)
        return 0;
    char *settings = strdup ("eng\n\n0");
    zactor_t **ocr = (zactor_t **) zmalloc (threads * sizeof (zactor_t *));
    for (int thread_nbr = 0; thread_nbr < threads; thread_nbr++) {
        ocr [thread_nbr] = zactor_new (ds_ocr_actor, settings);
        char *status = zstr_recv (ocr [thread_nbr]);
        zstr_free (&status);
    }
    //  One page per engine first, untimed: an engine's first page is slow
    //  (its dictionaries load then), and the pipeline's engines are warm
    for (int thread_nbr = 0; thread_nbr < threads; thread_nbr++) {
        zsock_send (ocr [thread_nbr], "s44p8", "PAGE", 0, 0, zchunk_data (page),
                    (uint64_t) zchunk_size (page));
        char *command = NULL, *text = NULL;
        uint32_t slot, page_nbr;
        int rc, confidence;
        zsock_recv (ocr [thread_nbr], "s44isi", &command, &slot, &page_nbr, &rc,
                    &text, &confidence);
        zstr_free (&command);
        zstr_free (&text);
    }
    int64_t start = zclock_mono ();
    int pages = 0;
    //  Keep every engine busy for the time given, then count pages
    for (int thread_nbr = 0; thread_nbr < threads; thread_nbr++)
        zsock_send (ocr [thread_nbr], "s44p8", "PAGE", 0, 0, zchunk_data (page),
                    (uint64_t) zchunk_size (page));
    int busy = threads;
    zpoller_t *poller = zpoller_new (NULL);
    for (int thread_nbr = 0; thread_nbr < threads; thread_nbr++)
        zpoller_add (poller, ocr [thread_nbr]);
    while (busy) {
        zactor_t *which = (zactor_t *) zpoller_wait (poller, -1);
        if (!which)
            break;
        char *command = NULL, *text = NULL;
        uint32_t slot, page_nbr;
        int rc, confidence;
        zsock_recv (which, "s44isi", &command, &slot, &page_nbr, &rc, &text,
                    &confidence);
        zstr_free (&command);
        zstr_free (&text);
        pages++;
        if (zclock_mono () - start < BENCH_OCR_LIMIT_MS)
            zsock_send (which, "s44p8", "PAGE", 0, 0, zchunk_data (page),
                        (uint64_t) zchunk_size (page));
        else
            busy--;
    }
    double rate = pages * 1000.0 / (zclock_mono () - start);
    zpoller_destroy (&poller);
    for (int thread_nbr = 0; thread_nbr < threads; thread_nbr++)
        zactor_destroy (&ocr [thread_nbr]);
    free (ocr);
    zstr_free (&settings);
    return rate;
}


//  --------------------------------------------------------------------------
//  The raw limits a workload is compared with, measured once

typedef struct {
    double sqlite;  //  tasks/s (echo)
    double http;    //  hello-world requests/s (echo via HTTP)
    double ocr;     //  tesseract pages/s (ocr workloads)
} limits_t;

static void
s_measure_limits (run_t *run, const char *dir, int engines, limits_t *limits)
{
    options_t *options = run->options;
    if (streq (options->workload, "echo")) {
        limits->sqlite = s_limit_sqlite (dir);
        if (!run->dealer)
            limits->http = s_limit_http (options->connections);
    }
    else if (strncmp (options->workload, "ocr", 3) == 0)
        limits->ocr = s_limit_ocr (run->page, engines);
}


//  --------------------------------------------------------------------------
//  CPU seconds and peak RSS (KiB) of a process, from /proc

static void
s_usage_of (pid_t pid, double *cpu, long *peak_kib)
{
    *cpu = 0;
    *peak_kib = 0;
    char *path = zsys_sprintf ("/proc/%d/stat", (int) pid);
    FILE *file = fopen (path, "r");
    if (file) {
        unsigned long user = 0, system = 0;
        //  Fields 14 and 15; the command name may hold spaces, so skip
        //  past its closing parenthesis
        char line [1024];
        if (fgets (line, sizeof (line), file)) {
            char *rest = strrchr (line, ')');
            if (rest
                && sscanf (rest + 2,
                           "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu "
                           "%lu",
                           &user, &system)
                       == 2)
                *cpu = (double) (user + system) / sysconf (_SC_CLK_TCK);
        }
        fclose (file);
    }
    zstr_free (&path);
    path = zsys_sprintf ("/proc/%d/status", (int) pid);
    file = fopen (path, "r");
    if (file) {
        char line [256];
        while (fgets (line, sizeof (line), file))
            if (strncmp (line, "VmHWM:", 6) == 0)
                *peak_kib = atol (line + 6);
        fclose (file);
    }
    zstr_free (&path);
}


//  --------------------------------------------------------------------------
//  Resident memory of a process now, in KiB (0 if gone)

static long
s_rss_of (pid_t pid)
{
    long rss = 0;
    char *path = zsys_sprintf ("/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    if (file) {
        char line [256];
        while (fgets (line, sizeof (line), file))
            if (strncmp (line, "VmRSS:", 6) == 0)
                rss = atol (line + 6);
        fclose (file);
    }
    zstr_free (&path);
    return rss;
}


//  --------------------------------------------------------------------------
//  Start the mock LLM; returns its URL (caller frees) and pid

static char *
s_start_mock (const char *dir, int latency, pid_t *pid)
{
    char *ready = zsys_sprintf ("%s/mock.ready", dir);
    char *script = zsys_sprintf ("%s/tests/mock_llm.py", DS_SOURCE_DIR);
    char *latency_text = zsys_sprintf ("%d", latency);
    char *log = zsys_sprintf ("%s/mock.log", dir);
    *pid = fork ();
    if (*pid == 0) {
        //  Its output goes to a log: our stdout is the report (--json)
        int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2 (fd, STDOUT_FILENO);
            dup2 (fd, STDERR_FILENO);
            close (fd);
        }
        execlp ("python3", "python3", script, "--ready-file", ready,
                "--latency-ms", latency_text, (char *) NULL);
        _exit (127);
    }
    char *url = NULL;
    int64_t deadline = zclock_mono () + 30000;
    while (!url && zclock_mono () < deadline) {
        zchunk_t *chunk = zchunk_slurp (ready, 0);
        if (chunk) {
            char *text = zchunk_strdup (chunk);
            char *end = strchr (text, '\n');
            if (end)
                *end = 0;
            url = strdup (text + 4);
            zstr_free (&text);
            zchunk_destroy (&chunk);
        }
        else
            zclock_sleep (10);
    }
    zstr_free (&latency_text);
    zstr_free (&log);
    zstr_free (&script);
    zstr_free (&ready);
    return url;
}


//  --------------------------------------------------------------------------
//  Run the pipeline benchmark

static int
s_pipeline (options_t *options)
{
    run_t run = {0};
    run.options = options;
    if (s_workload (&run)) {
        zstr_free (&run.page_path);
        zchunk_destroy (&run.page);
        return 2;
    }
    run.total = options->tasks + options->warmup;
    run.timings = (timing_t *) zmalloc (run.total * sizeof (timing_t));
    run.ids = zhash_new ();
    run.early = zhash_new ();
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    int ocr_threads = options->ocr_threads ? options->ocr_threads : (int) cores;
    int latency = s_llm_latency (options->workload);

    char dir [] = "/tmp/docusnap-bench.XXXXXX";
    ds_launcher_t *launcher = NULL;
    pid_t mock = 0;
    const char *url = options->url, *publish = options->publish;
    if (options->spawn) {
        if (!mkdtemp (dir))
            return 1;
        launcher = ds_launcher_new (DS_BIN_DIR, dir);
        run.launcher = launcher;
        ds_launcher_set_logs (launcher, true);
        char *arg = zsys_sprintf ("--data-dir=%s", dir);
        ds_launcher_add_arg (launcher, "store", arg);
        zstr_free (&arg);
        ds_launcher_add_arg (launcher, "gateway", "--http-port=0");
        ds_launcher_add_arg (launcher, "gateway", "--enable-echo");
        ds_launcher_add_arg (launcher, "worker", "--enable-echo");
        arg = zsys_sprintf ("--max-queue=%d", run.total + 1);
        ds_launcher_add_arg (launcher, "gateway", arg);
        zstr_free (&arg);
        arg = zsys_sprintf ("--ocr-threads=%d", ocr_threads);
        ds_launcher_add_arg (launcher, "worker", arg);
        zstr_free (&arg);
        arg = zsys_sprintf ("--llm-max-inflight=%d", options->llm_max_inflight);
        ds_launcher_add_arg (launcher, "worker", arg);
        zstr_free (&arg);
        if (latency >= 0) {
            char *mock_url = s_start_mock (dir, latency, &mock);
            if (!mock_url) {
                fprintf (stderr, "docusnap-bench: the mock LLM did not "
                                 "start\n");
                return 1;
            }
            arg = zsys_sprintf ("--llm-url=%s", mock_url);
            ds_launcher_add_arg (launcher, "worker", arg);
            zstr_free (&arg);
            zstr_free (&mock_url);
        }
        if (ds_launcher_start (launcher, options->workers)) {
            fprintf (stderr,
                     "docusnap-bench: the pipeline did not start; "
                     "logs in %s\n",
                     dir);
            return 1;
        }
        url = ds_launcher_url (launcher);
        publish = ds_launcher_endpoint (launcher, "publish");
    }
    const char *front =
        launcher ? ds_launcher_endpoint (launcher, "front") : options->front;
    run.sent_at = (int64_t *) zmalloc (run.total * sizeof (int64_t));
    if (streq (options->via, "zmq")) {
        run.dealer = zsock_new_dealer (front);
        zsock_set_rcvtimeo (run.dealer, 0);
        zsock_set_sndhwm (run.dealer, 0);
        zsock_set_rcvhwm (run.dealer, 0);
    }
    run.states = zsock_new_sub (publish, "");
    zsock_set_rcvtimeo (run.states, 0);
    zsock_set_rcvhwm (run.states, 1000000);
    //  A SUB connects asynchronously: wait for one heartbeat-free hint,
    //  a STATE of a warm-up task, rather than sleeping
    run.multi = curl_multi_init ();
    run.headers = s_json_headers ();
    s_keep_alive (run.multi, options->connections);

    //  The raw limit of the part that bounds the workload, measured in the
    //  same run just before the pipeline's and again just after it: this
    //  machine's speed drifts within minutes, and the ratio is to the
    //  mean of the two. echo is bounded by SQLite, and over HTTP also by
    //  HTTP itself: both are measured, the one the target names is
    //  the limit. The LLM's limit is computed, not measured.
    int engines = ocr_threads * options->workers < cores
                      ? ocr_threads * options->workers
                      : (int) cores;
    limits_t before = {0}, after = {0};
    s_measure_limits (&run, options->spawn ? dir : "/tmp", engines, &before);
    int rc = s_drive (&run, url);
    int64_t end_us = s_now_us ();
    double cpu_end [BENCH_SERVICES + 1];
    s_cpu_now (&run, cpu_end);
    s_measure_limits (&run, options->spawn ? dir : "/tmp", engines, &after);
    double sqlite_limit = (before.sqlite + after.sqlite) / 2;
    double http_limit = (before.http + after.http) / 2;
    const char *limit_name;
    double limit, limit_before = 0, limit_after = 0;
    if (streq (options->workload, "echo")) {
        limit_name = run.dealer ? "sqlite_tasks_per_s" : "http_hello_per_s";
        limit_before = run.dealer ? before.sqlite : before.http;
        limit_after = run.dealer ? after.sqlite : after.http;
    }
    else if (strncmp (options->workload, "ocr", 3) == 0) {
        limit_name = "tesseract_pages_per_s";
        limit_before = before.ocr;
        limit_after = after.ocr;
    }
    else
        limit_name = "llm_calls_per_s";
    if (limit_before > 0)
        limit = (limit_before + limit_after) / 2;
    else
        limit = options->workers * options->llm_max_inflight * 1000.0
                / (latency > 0 ? latency : 1);

    //  Latency of measured tasks, and the measured window
    int64_t *latencies = (int64_t *) zmalloc (run.total * sizeof (int64_t));
    int64_t *ends = (int64_t *) zmalloc (run.total * sizeof (int64_t));
    int count = 0, errors = 0;
    int64_t last_end = run.start_us;
    for (int index = options->warmup; index < run.accepted; index++) {
        timing_t *timing = &run.timings [index];
        if (!timing->ended)
            continue;
        ends [count] = timing->ended;
        latencies [count++] = timing->ended - timing->submitted;
        errors += timing->error;
        if (timing->ended > last_end)
            last_end = timing->ended;
    }
    qsort (latencies, count, sizeof (int64_t), s_compare);
    double seconds = (last_end - run.start_us) / 1e6;
    double tasks_per_s = seconds > 0 ? count / seconds : 0;
    double work_per_s = tasks_per_s * (run.pages ? run.pages : 1);
    //  Steady rate: the tasks that ended between the tenth and the ninth
    //  tenth of all ends, over that time; it leaves out the run's ramp-up
    //  and its tail (the last tasks' wait with the pipeline half idle)
    qsort (ends, count, sizeof (int64_t), s_compare);
    int first = count / 10, last = count - 1 - count / 10;
    double steady_per_s =
        last > first && ends [last] > ends [first]
            ? (last - first) / ((ends [last] - ends [first]) / 1e6)
            : tasks_per_s;
    free (ends);

    //  Stage times from the store, when we own it
    double queue_ms = 0, process_ms = 0, ocr_ms = 0, llm_ms = 0;
    if (launcher) {
        char *path = zsys_sprintf ("%s/docusnap.db", dir);
        sqlite3 *db;
        if (sqlite3_open (path, &db) == SQLITE_OK) {
            sqlite3_stmt *stmt;
            if (sqlite3_prepare_v2 (db,
                                    "SELECT AVG (started_at - created_at), "
                                    "AVG (finished_at - started_at), "
                                    "AVG (json_extract (result, "
                                    "'$.timing.ocr_ms')), "
                                    "AVG (json_extract (result, "
                                    "'$.timing.llm_ms')) FROM tasks "
                                    "WHERE status = 'completed'",
                                    -1, &stmt, NULL)
                    == SQLITE_OK
                && sqlite3_step (stmt) == SQLITE_ROW) {
                queue_ms = sqlite3_column_double (stmt, 0);
                process_ms = sqlite3_column_double (stmt, 1);
                ocr_ms = sqlite3_column_double (stmt, 2);
                llm_ms = sqlite3_column_double (stmt, 3);
            }
            sqlite3_finalize (stmt);
            sqlite3_close (db);
        }
        zstr_free (&path);
    }

    //  Processing, from the sink's STARTED to its RESULT, is the worker's
    //  OCR and LLM time plus the rest: extraction, messages, the sink
    double other_ms = process_ms - ocr_ms - llm_ms;
    if (other_ms < 0)
        other_ms = 0;
    json_t *report = json_pack (
        "{s:s, s:s, s:i, s:i, s:f, s:{s:f, s:f, s:f, s:f}, s:i, s:i, s:i, "
        "s:{s:s, s:f}, s:f, s:{s:f, s:f, s:f, s:f, s:f}}",
        "workload", options->workload, "via", options->via, "tasks", count,
        "workers", options->workers, "tasks_per_s", tasks_per_s, "latency_ms",
        "p50", s_percentile (latencies, count, 0.50), "p90",
        s_percentile (latencies, count, 0.90), "p99",
        s_percentile (latencies, count, 0.99), "max",
        s_percentile (latencies, count, 1.0), "errors", errors + run.refused,
        "refused", run.refused, "ended_by_status_poll", run.polled, "limit",
        "name", limit_name, "value", limit, "ratio_to_limit",
        limit > 0 ? work_per_s / limit : 0.0, "stages_ms_avg", "queue",
        queue_ms, "processing", process_ms, "ocr", ocr_ms, "llm", llm_ms,
        "sink_and_messages", other_ms);
    json_object_set_new (
        report, "concurrency",
        json_integer (options->rate > 0 ? 0 : options->concurrency));
    if (!run.dealer)
        json_object_set_new (report, "connections",
                             json_integer (options->connections));
    if (run.pages)
        json_object_set_new (report, "page",
                             json_pack ("{s:s, s:I}", "path", run.page_path,
                                        "bytes",
                                        (json_int_t) zchunk_size (run.page)));
    json_object_set_new (report, "steady_tasks_per_s",
                         json_real (steady_per_s));
    double steady_work = steady_per_s * (run.pages ? run.pages : 1);
    json_object_set_new (report, "steady_ratio_to_limit",
                         json_real (limit > 0 ? steady_work / limit : 0.0));
    if (limit_before > 0) {
        json_t *limit_json = json_object_get (report, "limit");
        json_object_set_new (limit_json, "before", json_real (limit_before));
        json_object_set_new (limit_json, "after", json_real (limit_after));
    }
    if (sqlite_limit > 0 && http_limit > 0)
        json_object_set_new (
            report, "limits",
            json_pack ("{s:{s:f, s:f}, s:{s:f, s:f}}", "sqlite_tasks_per_s",
                       "value", sqlite_limit, "ratio",
                       tasks_per_s / sqlite_limit, "http_hello_per_s", "value",
                       http_limit, "ratio", tasks_per_s / http_limit));
    if (launcher) {
        json_t *services = json_object ();
        for (int index = 0; s_services [index]; index++) {
            pid_t pid = ds_launcher_pid (launcher, s_services [index]);
            if (!pid)
                continue;
            double cpu;
            long peak;
            s_usage_of (pid, &cpu, &peak);
            long rss = s_rss_of (pid);
            //  Growth of resident memory from a tenth of the run to its end
            json_object_set_new (
                services, s_services [index],
                json_pack ("{s:f, s:f, s:i, s:i, s:i, s:f}", "cpu_s", cpu,
                           "cpu_us_per_task",
                           s_cpu_per_task (&run, cpu_end, index, count),
                           "peak_rss_kib", (int) peak, "rss_kib_at_tenth",
                           (int) run.rss_early [index], "rss_kib_end",
                           (int) rss, "rss_growth",
                           run.rss_early [index]
                               ? (double) rss / run.rss_early [index] - 1
                               : 0.0));
        }
        json_object_set_new (report, "services", services);
    }
    json_object_set_new (
        report, "client",
        json_pack ("{s:f, s:f}", "cpu_s",
                   cpu_end [BENCH_SERVICES] - run.cpu_start [BENCH_SERVICES],
                   "cpu_us_per_task",
                   s_cpu_per_task (&run, cpu_end, BENCH_SERVICES, count)));
    (void) end_us;
    //  A subscription that never reached the sink still ends every task,
    //  a second late and by polling: say so, the latencies are not the
    //  pipeline's
    if (run.polled * 10 > run.total)
        fprintf (stderr,
                 "docusnap-bench: %d of %d tasks were seen to end only by "
                 "asking their status, no STATE came for them on %s: is it "
                 "the sink's publish endpoint (--publish)?\n",
                 run.polled, run.total, publish);
    if (options->json) {
        char *text = json_dumps (report, JSON_COMPACT);
        printf ("%s\n", text);
        free (text);
    }
    else {
        printf ("workload         %s via %s, %d worker%s, %s",
                options->workload, options->via, options->workers,
                options->workers == 1 ? "" : "s",
                options->rate > 0 ? "open loop" : "closed loop");
        if (options->rate <= 0)
            printf (" (%d tasks outstanding)", options->concurrency);
        if (!run.dealer)
            printf (", %d HTTP connections", options->connections);
        printf ("\n");
        if (run.pages)
            printf ("page             %s (%zu bytes, the same for tesseract's "
                    "limit)\n",
                    run.page_path, zchunk_size (run.page));
        printf ("tasks            %d measured (+%d warm-up), %d errors\n",
                count, options->warmup, errors + run.refused);
        if (run.polled)
            printf ("                 %d seen to end only by asking their "
                    "status (no STATE came): their end is when it was "
                    "asked\n",
                    run.polled);
        printf ("throughput       %.1f tasks/s (steady: %.1f, without the "
                "first and last tenth)\n",
                tasks_per_s, steady_per_s);
        printf ("latency          p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max "
                "%.1f ms\n",
                s_percentile (latencies, count, 0.50),
                s_percentile (latencies, count, 0.90),
                s_percentile (latencies, count, 0.99),
                s_percentile (latencies, count, 1.0));
        printf ("stages (avg)     queue %.1f ms  processing %.1f ms: ocr %.1f "
                "ms  llm %.1f ms  sink and messages %.1f ms\n",
                queue_ms, process_ms, ocr_ms, llm_ms, other_ms);
        printf ("raw limit        %s = %.1f  (ratio %.2f, steady %.2f)\n",
                limit_name, limit, limit > 0 ? work_per_s / limit : 0.0,
                limit > 0 ? steady_per_s * (run.pages ? run.pages : 1) / limit
                          : 0.0);
        if (limit_before > 0)
            printf ("                 the mean of %.1f before the run and "
                    "%.1f after it\n",
                    limit_before, limit_after);
        if (sqlite_limit > 0 && http_limit > 0)
            printf ("also             sqlite_tasks_per_s = %.1f  (ratio "
                    "%.2f)\n",
                    sqlite_limit, tasks_per_s / sqlite_limit);
        json_t *services = json_object_get (report, "services");
        const char *name;
        json_t *usage;
        json_object_foreach (services, name, usage)
        {
            printf (
                "%-16s cpu %.2f s, %.1f us per measured task  rss %d KiB "
                "after a tenth, %d KiB at the end (%+.1f %%)  peak %d KiB\n",
                name, json_real_value (json_object_get (usage, "cpu_s")),
                json_real_value (json_object_get (usage, "cpu_us_per_task")),
                (int) json_integer_value (
                    json_object_get (usage, "rss_kib_at_tenth")),
                (int) json_integer_value (
                    json_object_get (usage, "rss_kib_end")),
                100 * json_real_value (json_object_get (usage, "rss_growth")),
                (int) json_integer_value (
                    json_object_get (usage, "peak_rss_kib")));
        }
        json_t *client = json_object_get (report, "client");
        printf ("client (bench)   cpu %.2f s, %.1f us per measured task, "
                "sharing the cores with the pipeline\n",
                json_real_value (json_object_get (client, "cpu_s")),
                json_real_value (json_object_get (client, "cpu_us_per_task")));
    }
    json_decref (report);
    free (latencies);

    curl_multi_cleanup (run.multi);
    curl_slist_free_all (run.headers);
    zsock_destroy (&run.states);
    zsock_destroy (&run.dealer);
    ds_proto_destroy (&run.submit);
    free (run.sent_at);
    if (launcher) {
        ds_launcher_stop (launcher, 30000);
        ds_launcher_destroy (&launcher);
        if (options->keep)
            fprintf (stderr, "docusnap-bench: logs and database kept in %s\n",
                     dir);
        else {
            char *command = zsys_sprintf ("rm -rf '%s'", dir);
            if (system (command) != 0)
                fprintf (stderr, "docusnap-bench: could not remove %s\n", dir);
            zstr_free (&command);
        }
    }
    if (mock) {
        kill (mock, SIGTERM);
        waitpid (mock, NULL, 0);
    }
    zhash_destroy (&run.ids);
    zhash_destroy (&run.early);
    free (run.timings);
    zstr_free (&run.body);
    zstr_free (&run.page_path);
    zchunk_destroy (&run.page);
    zstr_free (&run.path);
    if (rc)
        fprintf (stderr, "docusnap-bench: not every task ended in time\n");
    return rc ? 1 : 0;
}


//  --------------------------------------------------------------------------
//  Only the raw limits

static int
s_limits (options_t *options)
{
    long cores = sysconf (_SC_NPROCESSORS_ONLN);
    char dir [] = "/tmp/docusnap-bench.XXXXXX";
    if (!mkdtemp (dir))
        return 1;
    double zmq_small = s_limit_zmq (200);
    double zmq_page = s_limit_zmq (20000);
    double sqlite = s_limit_sqlite (dir);
    double http = s_limit_http (64);
    zchunk_t *page = s_page (options, NULL);
    double ocr_one = s_limit_ocr (page, 1);
    double ocr_all = s_limit_ocr (page, (int) cores);
    zchunk_destroy (&page);
    json_t *report = json_pack (
        "{s:f, s:f, s:f, s:f, s:f, s:f, s:i}", "zmq_msgs_per_s_200b", zmq_small,
        "zmq_msgs_per_s_20kb", zmq_page, "sqlite_tasks_per_s", sqlite,
        "http_hello_per_s", http, "tesseract_pages_per_s_1_engine", ocr_one,
        "tesseract_pages_per_s_per_core", ocr_all, "cores", (int) cores);
    if (options->json) {
        char *text = json_dumps (report, JSON_COMPACT);
        printf ("%s\n", text);
        free (text);
    }
    else {
        printf ("zmq push/pull    %.0f msgs/s (200 B)  %.0f msgs/s (20 KB)\n",
                zmq_small, zmq_page);
        printf ("sqlite           %.0f tasks/s (insert + 2 updates, batches "
                "of %d)\n",
                sqlite, BENCH_SQLITE_BATCH);
        printf ("http             %.0f requests/s (libmicrohttpd hello world, "
                "64 at once)\n",
                http);
        printf ("tesseract        %.2f pages/s (1 engine)  %.2f pages/s (%ld "
                "engines)\n",
                ocr_one, ocr_all, cores);
    }
    json_decref (report);
    char *command = zsys_sprintf ("rm -rf '%s'", dir);
    if (system (command) != 0)
        fprintf (stderr, "docusnap-bench: could not remove %s\n", dir);
    zstr_free (&command);
    return 0;
}


int
main (int argc, char **argv)
{
    //  Tesseract's OpenMP threads, limited before libgomp loads
    if (!getenv ("OMP_THREAD_LIMIT")) {
        setenv ("OMP_THREAD_LIMIT", "1", 1);
        execv ("/proc/self/exe", argv);
    }
    options_t options;
    int rc = s_options (&options, argc, argv);
    if (rc)
        return rc == 1 ? 0 : 2;
    zsys_init ();
    zsys_set_logident ("docusnap-bench");
    curl_global_init (CURL_GLOBAL_DEFAULT);
    if (streq (options.role, "limits"))
        rc = s_limits (&options);
    else if (streq (options.role, "pipeline"))
        rc = s_pipeline (&options);
    else {
        fprintf (stderr, "docusnap-bench: unknown role %s\n", options.role);
        rc = 2;
    }
    curl_global_cleanup ();
    return rc;
}
