/*  =========================================================================
    ds_image - what an image is, read from its header only

    The gateway uses this to refuse what is not a supported image before
    storing it; the worker decodes images itself (ds_ocr). Supported:
    PNG, JPEG, TIFF, BMP, GIF, WebP, PNM (whatever leptonica decodes).
    =========================================================================
*/

#ifndef DS_IMAGE_H_INCLUDED
#define DS_IMAGE_H_INCLUDED

#ifdef __cplusplus
extern "C" {
#endif

//  Read the image header. On success returns 0 and sets the format name
//  ("png", "jpeg", ...), width and height in pixels. Returns -1 if the
//  bytes are not an image of a supported format with a sane size.
int ds_image_probe (const void *data,
                    size_t size,
                    const char **format,
                    int *width,
                    int *height);

//  Quiet leptonica's own messages to stderr; call once per process.
void ds_image_quiet (void);

//  Self test of this class
void ds_image_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
