/*  =========================================================================
    ds_gateway - the HTTP API: validate, store, queue, answer status

    Runs a libmicrohttpd daemon on http-bind:http-port. A submission is
    validated (ds_submission), stored with its images in one committed
    transaction, then announced to the ventilator (PUSH to queue-endpoint)
    and answered 202. Status queries read the store.
    =========================================================================
*/

#ifndef DS_GATEWAY_H_INCLUDED
#define DS_GATEWAY_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  The gateway actor; args is the borrowed ds_config_t *.
//  Pipe commands: $TERM.
void ds_gateway (zsock_t *pipe, void *args);

#ifdef __cplusplus
}
#endif

#endif
