/*  =========================================================================
    ds_ventilator - the queue: priorities and dispatch to workers

    Binds PULL on queue-endpoint (QUEUE from gateways) and PUSH on
    dispatch-endpoint (TASK to workers). Holds pending task ids in one FIFO
    per priority and sends the most urgent one only when the worker socket
    can take it, so the queue that priorities act on is the one held here.
    On start it reloads every pending task from the store.
    =========================================================================
*/

#ifndef DS_VENTILATOR_H_INCLUDED
#define DS_VENTILATOR_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  The ventilator actor; args is the borrowed ds_config_t *.
//  Pipe commands: $TERM; "STATS" answers queued, dispatched, rejected
//  as three uint64 ("888").
void ds_ventilator (zsock_t *pipe, void *args);

//  Self test of this class
void ds_ventilator_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
