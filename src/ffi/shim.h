/*
 * The C shim: only what bindgen cannot express. APR's ring and bucket
 * helpers are macros, so each request-output step is one small function here.
 */
#ifndef MOD_WSGI_RS_SHIM_H
#define MOD_WSGI_RS_SHIM_H

#include <httpd.h>
#include <apr_buckets.h>
#include <apr_file_io.h>

/* Flags for wsgi_shim_send*: add a FLUSH and/or an EOS bucket after the data. */
#define WSGI_SHIM_FLUSH 1
#define WSGI_SHIM_EOS 2

/* Pass `len` bytes (copied out of Python's buffer by a transient bucket that
 * the filters set aside if they keep it), then the requested FLUSH/EOS
 * buckets, down r's output filters. The brigade is emptied afterwards. */
apr_status_t wsgi_shim_send(request_rec *r, apr_bucket_brigade *bb,
                            const char *data, apr_size_t len, int flags);

/* Pass `len` bytes of `file` from `offset` as file buckets (split at 1 GiB),
 * then FLUSH/EOS as flags say. */
apr_status_t wsgi_shim_send_file(request_rec *r, apr_bucket_brigade *bb,
                                 apr_file_t *file, apr_off_t offset,
                                 apr_off_t len, int flags);

/* End a response whose body failed part-way: an error bucket tells the
 * chunking filter not to send the final zero-length chunk, and the
 * connection is closed so the client sees a truncated response. */
apr_status_t wsgi_shim_send_abort(request_rec *r, apr_bucket_brigade *bb);

/* Read the request body through the input filters (dechunked, limited by
 * LimitRequestBody) into buf. Returns bytes read, 0 at end, -1 on error with
 * the APR status in *status (AP_FILTER_ERROR / APR_INCOMPLETE / ...). */
long wsgi_shim_read_body(request_rec *r, apr_bucket_brigade *bb, char *buf,
                         apr_size_t len, apr_status_t *status);

/* Whether the given request-level log level is enabled for this module. */
int wsgi_shim_log_enabled(const request_rec *r, const server_rec *s, int level,
                          int module_index);

/* mod_ssl's optional functions (as mod_wsgi's auth environ uses them):
 * whether c is TLS (0 without mod_ssl), and an SSL variable of r (NULL
 * when unset or without mod_ssl). */
int wsgi_shim_ssl_is_https(conn_rec *c);
const char *wsgi_shim_ssl_var_lookup(request_rec *r, const char *name);

#endif
