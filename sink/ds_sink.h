/*  =========================================================================
    ds_sink - the sink actor: worker events into SQLite

    Binds a PULL socket on events-endpoint and applies each EVENT to the
    task store in batched transactions. The first terminal event of a task
    wins; later ones are dropped and counted.
    =========================================================================
*/

#ifndef DS_SINK_H_INCLUDED
#define DS_SINK_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  The sink actor; args is the borrowed ds_config_t *.
//  Pipe commands: $TERM; "STATS" answers the events applied, dropped
//  (late duplicates, unknown tasks), rejected (malformed) and the cancels
//  the gateway committed, as four uint64_t (zsock picture "8888").
void ds_sink (zsock_t *pipe, void *args);

//  Self test of this class
void ds_sink_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
