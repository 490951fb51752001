/*  =========================================================================
    ds_worker - the worker actor: OCR threads and extraction

    Connects PULL to dispatch-endpoint (TASK from the ventilator) and PUSH
    to events-endpoint (EVENT to the sink). Runs ocr-threads OCR threads,
    each with its own tesseract engine, and reads only as many tasks as it
    can work on (threads + prefetch), so undispatched work stays in the
    ventilator's priority queue. Pages of a task are read in parallel and
    kept in order; the task type's strategy then builds the result.
    =========================================================================
*/

#ifndef DS_WORKER_H_INCLUDED
#define DS_WORKER_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  The worker actor; args is the borrowed ds_config_t *.
//  Pipe commands: $TERM (finish the tasks held, then stop); "STATS"
//  answers completed, failed, rejected as three uint64 ("888").
void ds_worker (zsock_t *pipe, void *args);

//  Self test of this class
void ds_worker_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
