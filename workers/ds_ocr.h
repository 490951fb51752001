/*  =========================================================================
    ds_ocr - one tesseract engine, initialised once and reused

    Owns a TessBaseAPI and the PIX of the page it reads. Not thread safe:
    each OCR thread (ds_ocr_actor) owns one ds_ocr.
    =========================================================================
*/

#ifndef DS_OCR_H_INCLUDED
#define DS_OCR_H_INCLUDED

typedef struct _ds_ocr_t ds_ocr_t;

#ifdef __cplusplus
extern "C" {
#endif

//  Create an engine for lang ("eng", "eng+deu") with tessdata directory
//  (NULL or "" for tesseract's default). Returns NULL, logged, if the
//  language data cannot be loaded.
ds_ocr_t *ds_ocr_new (const char *lang, const char *tessdata);

//  Destroy the engine
void ds_ocr_destroy (ds_ocr_t **self_p);

//  Read one page from encoded image bytes (PNG, JPEG, TIFF, ...). On
//  success returns 0, sets *text to a new string the caller frees and
//  *confidence to the mean word confidence (0..100). Returns -1 if the
//  image cannot be decoded or read; ds_ocr_error says why.
int ds_ocr_page (ds_ocr_t *self,
                 const void *data,
                 size_t size,
                 char **text,
                 int *confidence);

//  Time tesseract may spend on one page, in ms (0: no limit)
void ds_ocr_set_timeout (ds_ocr_t *self, int timeout_ms);

//  Why the last ds_ocr_page failed
const char *ds_ocr_error (ds_ocr_t *self);

//  OCR thread. args is a borrowed "lang\ntessdata\ntimeout_ms" string. Signals 0 once
//  its engine is loaded, or -1 if it could not be. Pipe commands:
//    "PAGE" slot:4 page:4 data:p size:8  (data is borrowed until DONE)
//  answered with
//    "DONE" slot:4 page:4 rc:i text:s confidence:i (text = error if rc -1)
void ds_ocr_actor (zsock_t *pipe, void *args);

//  Self test of this class
void ds_ocr_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
