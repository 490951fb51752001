/*  =========================================================================
    ds_worker_classes.h - private header of the worker service
    =========================================================================
*/

#ifndef DS_WORKER_CLASSES_H_INCLUDED
#define DS_WORKER_CLASSES_H_INCLUDED

#include "docusnap.h"
#include <tesseract/capi.h>
#include <leptonica/allheaders.h>
#include <strings.h>
#include <curl/curl.h>

#include "ds_ocr.h"
#include "ds_rules.h"
#include "ds_llm.h"
#include "ds_prompt.h"
#include "ds_strategy.h"
#include "ds_worker.h"

#endif
