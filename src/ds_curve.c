/*  =========================================================================
    ds_curve - CURVE security for every ZeroMQ socket, from configuration

    @header
    One object per service process. It holds the server certificate (with
    its secret key where this process binds), this program's own client
    certificate, and, once a socket binds, a zauth actor that admits the
    public keys found in the authorized directory. zauth serves ZAP for
    the whole process (czmq's shared context), so there is one per
    process, and it is started before the first CURVE server socket binds.
    @end
    =========================================================================
*/

#include "ds_classes.h"

#define CURVE_NO_SECRET "0000000000000000000000000000000000000000"

struct _ds_curve_t {
    zcert_t *server;   //  the services' certificate, or NULL: CURVE off
    zcert_t *client;   //  our own when we connect, or NULL
    char *authorized;  //  directory of admitted public certificates
    zactor_t *auth;    //  zauth, once a server socket was prepared
    bool verbose;      //  zauth logs each handshake
};


//  --------------------------------------------------------------------------
//  True if the certificate holds a secret key

static bool
s_has_secret (zcert_t *cert)
{
    return !streq (zcert_secret_txt (cert), CURVE_NO_SECRET);
}


//  --------------------------------------------------------------------------
//  Create from configuration

ds_curve_t *
ds_curve_new (ds_config_t *config, char **reason)
{
    assert (config);
    assert (reason);
    *reason = NULL;
    ds_curve_t *self = (ds_curve_t *) zmalloc (sizeof (ds_curve_t));
    assert (self);
    self->verbose = ds_config_bool (config, "verbose");
    const char *server = ds_config_get (config, "curve-server-cert");
    const char *client = ds_config_get (config, "curve-client-cert");
    const char *authorized = ds_config_get (config, "curve-authorized");
    if (!*server) {
        if (*client || *authorized)
            *reason = strdup ("curve-client-cert and curve-authorized need "
                              "curve-server-cert");
    }
    else if (!(self->server = zcert_load (server)))
        *reason = zsys_sprintf ("cannot read the certificate %s", server);
    else if (*client && !(self->client = zcert_load (client)))
        *reason = zsys_sprintf ("cannot read the certificate %s", client);
    else {
        if (!self->client && s_has_secret (self->server))
            self->client = zcert_dup (self->server);
        if (!self->client)
            *reason = zsys_sprintf ("%s_secret is not here: to connect "
                                    "without the server's secret key, set "
                                    "curve-client-cert",
                                    server);
        else if (!s_has_secret (self->client))
            *reason = zsys_sprintf ("%s_secret is missing: a client "
                                    "certificate needs its secret key",
                                    client);
        //  Default: "authorized" beside the server certificate
        if (*authorized)
            self->authorized = strdup (authorized);
        else {
            char *copy = strdup (server);
            char *slash = strrchr (copy, '/');
            if (slash)
                *slash = 0;
            self->authorized =
                slash ? zsys_sprintf ("%s/authorized", *copy ? copy : "/")
                      : strdup ("authorized");
            zstr_free (&copy);
        }
    }
    if (*reason)
        ds_curve_destroy (&self);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy

void
ds_curve_destroy (ds_curve_t **self_p)
{
    assert (self_p);
    ds_curve_t *self = *self_p;
    if (self) {
        zactor_destroy (&self->auth);
        zcert_destroy (&self->server);
        zcert_destroy (&self->client);
        zstr_free (&self->authorized);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  True if CURVE is on

bool
ds_curve_enabled (ds_curve_t *self)
{
    assert (self);
    return self->server != NULL;
}


//  --------------------------------------------------------------------------
//  Make a socket a CURVE server

int
ds_curve_server (ds_curve_t *self, zsock_t *sock)
{
    assert (self);
    assert (sock);
    if (!self->server)
        return 0;
    if (!s_has_secret (self->server)) {
        zsys_error ("ds_curve: NO-SECRET this program holds only the server's "
                    "public key and cannot bind");
        return -1;
    }
    if (!self->auth) {
        if (!zsys_file_exists (self->authorized))
            zsys_warning (
                "ds_curve: NO-AUTHORIZED directory=%s does not exist: "
                "no client will be admitted",
                self->authorized);
        self->auth = zactor_new (zauth, NULL);
        assert (self->auth);
        if (self->verbose) {
            zstr_sendx (self->auth, "VERBOSE", NULL);
            zsock_wait (self->auth);
        }
        zstr_sendx (self->auth, "CURVE", self->authorized, NULL);
        zsock_wait (self->auth);
    }
    zcert_apply (self->server, zsock_resolve (sock));
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, "docusnap");
    return 0;
}


//  --------------------------------------------------------------------------
//  Make a socket a CURVE client

void
ds_curve_client (ds_curve_t *self, zsock_t *sock)
{
    assert (self);
    assert (sock);
    if (!self->server)
        return;
    zcert_apply (self->client, zsock_resolve (sock));
    zsock_set_curve_serverkey (sock, zcert_public_txt (self->server));
}


//  --------------------------------------------------------------------------
//  Prepare and bind

int
ds_curve_bind (ds_curve_t *self, zsock_t *sock, const char *endpoint)
{
    if (ds_curve_server (self, sock))
        return -1;
    return zsock_bind (sock, "%s", endpoint);
}


//  --------------------------------------------------------------------------
//  Prepare and connect

int
ds_curve_connect (ds_curve_t *self, zsock_t *sock, const char *endpoint)
{
    ds_curve_client (self, sock);
    return zsock_connect (sock, "%s", endpoint);
}


//  --------------------------------------------------------------------------
//  Say how the sockets are protected

void
ds_curve_log (ds_curve_t *self, const char *name)
{
    assert (self);
    if (self->server)
        zsys_info ("%s: CURVE on server-key=%s client-key=%s authorized=%s",
                   name, zcert_public_txt (self->server),
                   zcert_public_txt (self->client), self->authorized);
    else
        zsys_notice ("%s: CURVE off: sockets are not encrypted or "
                     "authenticated; keep endpoints on loopback, or set "
                     "curve-server-cert (see docusnap keygen)",
                     name);
}


//  --------------------------------------------------------------------------
//  Write a certificate pair

int
ds_curve_keygen (const char *path, const char *name)
{
    assert (path);
    zcert_t *cert = zcert_new ();
    assert (cert);
    zcert_set_meta (cert, "name", "%s", name);
    char created [32];
    zcert_set_meta (
        cert, "created", "%s",
        ds_util_iso_time (ds_util_now_ms (), created, sizeof (created)));
    int rc = zcert_save (cert, path);
    char *secret = zsys_sprintf ("%s_secret", path);
    if (rc == 0 && chmod (secret, 0600))
        rc = -1;
    zstr_free (&secret);
    zcert_destroy (&cert);
    return rc;
}


//  --------------------------------------------------------------------------
//  Self test

void
ds_curve_test (bool verbose)
{
    printf (" * ds_curve: ");
    if (verbose)
        printf ("\n");
    char dir [] = "/tmp/ds_curve_test_XXXXXX";
    assert (mkdtemp (dir));
    char *server_path = zsys_sprintf ("%s/server.cert", dir);
    char *good_path = zsys_sprintf ("%s/good.cert", dir);
    char *bad_path = zsys_sprintf ("%s/bad.cert", dir);
    char *authorized = zsys_sprintf ("%s/authorized", dir);
    char *admitted = zsys_sprintf ("%s/authorized/good.cert", dir);
    assert (ds_curve_keygen (server_path, "server") == 0);
    assert (ds_curve_keygen (good_path, "good") == 0);
    assert (ds_curve_keygen (bad_path, "bad") == 0);
    assert (ds_util_mkdir_p (authorized) == 0);
    zcert_t *good = zcert_load (good_path);
    assert (good);
    assert (zcert_save_public (good, admitted) == 0);
    zcert_destroy (&good);
    struct stat info;
    char *secret = zsys_sprintf ("%s_secret", server_path);
    assert (stat (secret, &info) == 0 && (info.st_mode & 0777) == 0600);
    zstr_free (&secret);

    //  Off without keys; keys without a server certificate are an error
    ds_config_t *config = ds_config_new ("test", DS_ROLE_SERVICES, "test");
    char *reason = NULL;
    ds_curve_t *curve = ds_curve_new (config, &reason);
    assert (curve && !reason);
    assert (!ds_curve_enabled (curve));
    zsock_t *plain = zsock_new (ZMQ_PULL);
    assert (ds_curve_server (curve, plain) == 0);
    assert (zsock_mechanism (plain) == ZMQ_NULL);
    zsock_destroy (&plain);
    ds_curve_destroy (&curve);
    assert (ds_config_set (config, "curve-client-cert", good_path) == 0);
    assert (!ds_curve_new (config, &reason) && reason);
    zstr_free (&reason);
    assert (ds_config_set (config, "curve-server-cert", "/nonexistent/x") == 0);
    assert (!ds_curve_new (config, &reason) && strstr (reason, "cannot read"));
    zstr_free (&reason);

    //  The server: binds with its secret; authorized defaults beside it
    assert (ds_config_set (config, "curve-client-cert", "") == 0);
    assert (ds_config_set (config, "curve-server-cert", server_path) == 0);
    ds_curve_t *server = ds_curve_new (config, &reason);
    assert (server && ds_curve_enabled (server));
    assert (streq (server->authorized, authorized));
    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert (ds_curve_server (server, pull) == 0);
    assert (zsock_mechanism (pull) == ZMQ_CURVE);
    int port = zsock_bind (pull, "tcp://127.0.0.1:*");
    assert (port > 0);
    zsock_set_rcvtimeo (pull, 5000);

    //  A client with an authorized key is heard
    assert (ds_config_set (config, "curve-client-cert", good_path) == 0);
    ds_curve_t *client = ds_curve_new (config, &reason);
    assert (client);
    zsock_t *push = zsock_new (ZMQ_PUSH);
    ds_curve_client (client, push);
    assert (zsock_connect (push, "tcp://127.0.0.1:%d", port) == 0);
    zstr_send (push, "admitted");
    char *heard = zstr_recv (pull);
    assert (heard && streq (heard, "admitted"));
    zstr_free (&heard);

    //  One whose key is not in the directory, or a plain one, is not: the
    //  admitted client's second message arrives, theirs never do
    assert (ds_config_set (config, "curve-client-cert", bad_path) == 0);
    ds_curve_t *stranger = ds_curve_new (config, &reason);
    assert (stranger);
    zsock_t *rejected = zsock_new (ZMQ_PUSH);
    ds_curve_client (stranger, rejected);
    assert (zsock_connect (rejected, "tcp://127.0.0.1:%d", port) == 0);
    zsock_t *unencrypted = zsock_new (ZMQ_PUSH);
    assert (zsock_connect (unencrypted, "tcp://127.0.0.1:%d", port) == 0);
    zstr_send (rejected, "stranger");
    zstr_send (unencrypted, "plain");
    //  An admitted client connecting after them is heard; theirs are not
    zsock_t *late = zsock_new (ZMQ_PUSH);
    ds_curve_client (client, late);
    assert (zsock_connect (late, "tcp://127.0.0.1:%d", port) == 0);
    zstr_send (late, "last");
    heard = zstr_recv (pull);
    assert (heard && streq (heard, "last"));
    zstr_free (&heard);
    zsock_set_rcvtimeo (pull, 500);
    assert (zstr_recv (pull) == NULL);

    //  Without the server's secret, a program can connect but not bind
    char *public_only = zsys_sprintf ("%s/public/server.cert", dir);
    char *public_dir = zsys_sprintf ("%s/public", dir);
    assert (ds_util_mkdir_p (public_dir) == 0);
    zcert_t *server_cert = zcert_load (server_path);
    assert (zcert_save_public (server_cert, public_only) == 0);
    zcert_destroy (&server_cert);
    assert (ds_config_set (config, "curve-server-cert", public_only) == 0);
    assert (ds_config_set (config, "curve-client-cert", "") == 0);
    assert (!ds_curve_new (config, &reason) && strstr (reason, "_secret"));
    zstr_free (&reason);
    assert (ds_config_set (config, "curve-client-cert", good_path) == 0);
    ds_curve_t *remote = ds_curve_new (config, &reason);
    assert (remote);
    zsock_t *unbound = zsock_new (ZMQ_PULL);
    assert (ds_curve_server (remote, unbound) == -1);
    zsock_destroy (&unbound);
    ds_curve_destroy (&remote);

    zsock_destroy (&late);
    zsock_destroy (&unencrypted);
    zsock_destroy (&rejected);
    zsock_destroy (&push);
    zsock_destroy (&pull);
    ds_curve_destroy (&stranger);
    ds_curve_destroy (&client);
    ds_curve_destroy (&server);
    ds_config_destroy (&config);
    char *command = zsys_sprintf ("rm -rf '%s'", dir);
    assert (system (command) == 0);
    zstr_free (&command);
    zstr_free (&public_only);
    zstr_free (&public_dir);
    zstr_free (&server_path);
    zstr_free (&good_path);
    zstr_free (&bad_path);
    zstr_free (&authorized);
    zstr_free (&admitted);
    printf ("OK\n");
}
