/*  =========================================================================
    ds_curve - CURVE security for every ZeroMQ socket, from configuration

    With curve-server-cert set, every socket a service binds is a CURVE
    server with the services' certificate, and only peers whose public
    certificate is in the curve-authorized directory complete the
    handshake (czmq's zauth); every socket a program connects is a CURVE
    client of that server key, with its own certificate (curve-client-cert,
    by default the server's). Without it, sockets are plain and a service
    says in its log that it relies on binding to loopback.

    Certificates are czmq's: FILE holds the public key, FILE_secret both
    keys; `docusnap keygen` writes them.
    =========================================================================
*/

#ifndef DS_CURVE_H_INCLUDED
#define DS_CURVE_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  Create from the configuration's curve-* options (those the config's
//  role has). Returns NULL when the keys are configured but cannot be
//  used; *reason then says why (a new string, caller frees).
ds_curve_t *ds_curve_new (ds_config_t *config, char **reason);

//  Destroy, stopping the authenticator if one runs
void ds_curve_destroy (ds_curve_t **self_p);

//  True if CURVE is on
bool ds_curve_enabled (ds_curve_t *self);

//  Prepare a socket that will bind: a CURVE server, with the authenticator
//  started on first use. Needs the server's secret key. Returns 0, or -1
//  if this program holds only the server's public key.
int ds_curve_server (ds_curve_t *self, zsock_t *sock);

//  Prepare a socket that will connect: a CURVE client of the server key
void ds_curve_client (ds_curve_t *self, zsock_t *sock);

//  ds_curve_server, then zsock_bind; returns what zsock_bind returns
int ds_curve_bind (ds_curve_t *self, zsock_t *sock, const char *endpoint);

//  ds_curve_client, then zsock_connect; returns what zsock_connect returns
int ds_curve_connect (ds_curve_t *self, zsock_t *sock, const char *endpoint);

//  Log, once per service, how its sockets are protected; name is the
//  service's log prefix
void ds_curve_log (ds_curve_t *self, const char *name);

//  Write a certificate pair (path and path_secret) with the given name in
//  its metadata. Returns 0 or -1 (errno set).
int ds_curve_keygen (const char *path, const char *name);

//  Self test of this class
void ds_curve_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
