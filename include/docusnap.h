/*  =========================================================================
    docusnap.h - project header

    The one header every docusnap source includes (through ds_classes.h or
    a service's private header). System and third-party headers are
    included here and nowhere else.
    =========================================================================
*/

#ifndef DOCUSNAP_H_INCLUDED
#define DOCUSNAP_H_INCLUDED

#define DS_VERSION_MAJOR 0
#define DS_VERSION_MINOR 1
#define DS_VERSION_PATCH 0
#define DS_MAKE_VERSION(major, minor, patch)                                   \
    ((major) *10000 + (minor) *100 + (patch))
#define DS_VERSION                                                             \
    DS_MAKE_VERSION (DS_VERSION_MAJOR, DS_VERSION_MINOR, DS_VERSION_PATCH)
#define DS_VERSION_STRING "0.1.0"

//  Asserts stay on in every build type, release included
#undef NDEBUG
#include <assert.h>

#include <czmq.h>
#include <msgpack.h>
#include <sqlite3.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if CZMQ_VERSION < CZMQ_MAKE_VERSION(4, 2, 0)
#error "docusnap needs czmq 4.2.0 or later"
#endif
#if ZMQ_VERSION < ZMQ_MAKE_VERSION(4, 3, 0)
#error "docusnap needs libzmq 4.3.0 or later"
#endif
#if SQLITE_VERSION_NUMBER < 3035000
#error "docusnap needs sqlite 3.35 or later"
#endif
#if JANSSON_VERSION_HEX < 0x020d00
#error "docusnap needs jansson 2.13 or later"
#endif

//  Opaque class types
typedef struct _ds_proto_t ds_proto_t;
typedef struct _ds_config_t ds_config_t;
typedef struct _ds_store_t ds_store_t;
typedef struct _ds_base64_t ds_base64_t;
typedef struct _ds_curve_t ds_curve_t;

#include "ds_proto.h"
#include "ds_config.h"
#include "ds_store.h"
#include "ds_util.h"
#include "ds_service.h"
#include "ds_image.h"
#include "ds_launcher.h"
#include "ds_curve.h"

#endif
